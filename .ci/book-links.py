#!/usr/bin/env python3
"""Checks every link of the built book (mdbook's HTML output directory, the argument).

Each relative link must lead to a file inside the book, and a `#fragment` to an element with
that id in the target page. External links (http, https, mailto) are not fetched: CI has no
internet. Prints one summary line; exits 1 listing every broken link.
"""
import html.parser
import os
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "script") and a.get("src"):
            self.links.append(a["src"])


def parse(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    return p


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: book-links.py BOOK_HTML_DIR")
    root = os.path.realpath(sys.argv[1])
    pages = {}
    for d, _, files in os.walk(root):
        for name in files:
            if name.endswith(".html"):
                pages[os.path.join(d, name)] = parse(os.path.join(d, name))
    broken, checked = [], 0
    for page, p in sorted(pages.items()):
        # print.html repeats every chapter with rewritten links; the chapters are checked.
        if os.path.basename(page) in ("print.html", "toc.html", "404.html"):
            continue
        for href in p.links:
            url = urllib.parse.urlsplit(href)
            if url.scheme in ("http", "https", "mailto") or href.startswith("//"):
                continue
            if url.scheme:
                broken.append(f"{os.path.relpath(page, root)}: unknown link scheme {href}")
                continue
            checked += 1
            target = page if not url.path else os.path.realpath(
                os.path.join(os.path.dirname(page), urllib.parse.unquote(url.path)))
            if os.path.isdir(target):
                target = os.path.join(target, "index.html")
            rel = os.path.relpath(page, root)
            if not target.startswith(root + os.sep):
                broken.append(f"{rel}: {href} leaves the book")
            elif not os.path.exists(target):
                broken.append(f"{rel}: {href} does not exist")
            elif url.fragment and target.endswith(".html"):
                ids = pages[target].ids if target in pages else parse(target).ids
                if urllib.parse.unquote(url.fragment) not in ids:
                    broken.append(f"{rel}: {href}: no #{url.fragment} in {os.path.relpath(target, root)}")
    chapters = len(pages) - sum(os.path.basename(k) in ("print.html", "toc.html", "404.html") for k in pages)
    if broken:
        print("book: broken links:\n  " + "\n  ".join(broken))
        sys.exit(1)
    print(f"book: {chapters} pages, {checked} internal links checked, 0 broken")


if __name__ == "__main__":
    main()
