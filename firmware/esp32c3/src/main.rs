//! outage-monitor heartbeat firmware for ESP32-C3 boards.
//!
//! Joins the WiFi network given at build time, gets an address by DHCP, and
//! POSTs a heartbeat to `OUTAGE_SERVER_URL/api/v1/heartbeat` every interval
//! (the server may ask for another interval in its reply). The heartbeat
//! carries a random `boot_id` drawn from the hardware RNG at power-on, the
//! uptime and a sequence number, so the server can tell a power cut (new
//! `boot_id`) from a network drop (same `boot_id`, uptime kept counting).
//!
//! Failures are retried with capped exponential backoff and jitter. A
//! hardware watchdog resets the chip when the main loop stops making
//! progress. Settings come from environment variables at build time; see
//! `build.rs` and `book/src/devices/esp32c3.md`.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::{
    Runner, Stack, StackResources,
    dns::DnsSocket,
    tcp::client::{TcpClient, TcpClientState},
};
use embassy_time::{Duration, Instant, Timer, with_timeout};
use esp_backtrace as _;
use esp_hal::{
    clock::CpuClock,
    peripherals::TIMG1,
    ram,
    rng::{Trng, TrngSource},
    timer::timg::{MwdtStage, TimerGroup, Wdt},
};
use esp_println::println;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config as WifiConfig, ControllerConfig, Interface, WifiController,
    sta::StationConfig,
};
use heartbeat_proto::{Backoff, BootId, Heartbeat, MAX_BODY_LEN, StatusClass, parse_reply};
use reqwless::{
    client::HttpClient,
    headers::ContentType,
    request::{Method, RequestBuilder},
};

mod settings {
    include!(concat!(env!("OUT_DIR"), "/settings.rs"));
}

esp_bootloader_esp_idf::esp_app_desc!();

/// Sent as `fw` in every heartbeat.
const FIRMWARE: &str = concat!("outage-heartbeat-esp32c3/", env!("CARGO_PKG_VERSION"));

/// First retry delay after a failed heartbeat, seconds.
const BACKOFF_BASE_S: u32 = 5;
/// Retry delays never exceed `max(interval, this)`, seconds.
const BACKOFF_MIN_CAP_S: u32 = 60;
/// How long to wait for WiFi + DHCP before counting the attempt as failed.
const LINK_WAIT_S: u64 = 30;
/// Whole HTTP exchange (DNS, connect, send, receive) must finish within this.
const REQUEST_TIMEOUT_S: u64 = 20;
/// Socket-level timeout for a single read or write.
const SOCKET_TIMEOUT_S: u64 = 10;
/// The hardware watchdog resets the chip when not fed for this long.
const WATCHDOG_TIMEOUT_S: u64 = 20;
/// Extra time granted to the main loop beyond each step's own limit before
/// the watchdog task stops feeding the hardware watchdog.
const PROGRESS_SLACK_S: u32 = 30;
/// Give up on one WiFi connection attempt after this long.
const WIFI_CONNECT_TIMEOUT_S: u64 = 30;
/// How often the WiFi task refreshes the signal strength.
const RSSI_REFRESH_S: u64 = 10;

/// Latest WiFi signal strength in dBm; 0 means unknown (not connected).
static RSSI_DBM: AtomicI32 = AtomicI32::new(0);
/// Uptime second by which the main loop promises to check in again. The
/// watchdog task only feeds the hardware watchdog while this lies ahead.
static PROGRESS_DEADLINE_S: AtomicU32 = AtomicU32::new(u32::MAX);

/// Make a `'static` value from a `StaticCell`, once.
macro_rules! make_static {
    ($t:ty, $val:expr) => {{
        static CELL: static_cell::StaticCell<$t> = static_cell::StaticCell::new();
        CELL.uninit().write($val)
    }};
}

fn uptime_s() -> u64 {
    Instant::now().as_secs()
}

/// The main loop promises to check in again within `seconds`.
fn promise_progress_within(seconds: u64) {
    let deadline = uptime_s()
        .saturating_add(seconds)
        .saturating_add(u64::from(PROGRESS_SLACK_S));
    PROGRESS_DEADLINE_S.store(
        u32::try_from(deadline).unwrap_or(u32::MAX),
        Ordering::Relaxed,
    );
}

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));

    // Arm the hardware watchdog first, so even a hang during start-up ends
    // in a reset. Stage 0 resets the whole chip.
    let mut wdt = TimerGroup::new(peripherals.TIMG1).wdt;
    wdt.set_timeout(
        MwdtStage::Stage0,
        esp_hal::time::Duration::from_secs(WATCHDOG_TIMEOUT_S),
    );
    wdt.enable();
    wdt.feed();

    println!();
    println!("{FIRMWARE} starting");
    println!("reset reason: {:?}", esp_hal::system::reset_reason());

    esp_alloc::heap_allocator!(#[ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 36 * 1024);

    // A fresh random boot id from the true RNG (SAR ADC noise); the entropy
    // source is released again before the radio starts, which then keeps
    // the RNG seeded on its own.
    let (boot_id, net_seed) = {
        let source = TrngSource::new(peripherals.RNG, peripherals.ADC1);
        let (boot_id, seed) = match Trng::try_new() {
            Ok(trng) => {
                let mut bytes = [0u8; 16];
                trng.read(&mut bytes);
                let seed = (u64::from(trng.random()) << 32) | u64::from(trng.random());
                (BootId::from_bytes(bytes), seed)
            }
            Err(e) => {
                // Cannot happen while `source` lives; fall back to the
                // plain hardware RNG rather than refusing to start.
                println!("true RNG unavailable ({e:?}); using the plain RNG");
                let rng = esp_hal::rng::Rng::new();
                let mut bytes = [0u8; 16];
                rng.read(&mut bytes);
                let seed = (u64::from(rng.random()) << 32) | u64::from(rng.random());
                (BootId::from_bytes(bytes), seed)
            }
        };
        drop(source);
        (boot_id, seed)
    };
    println!("boot_id {boot_id}");

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);
    wdt.feed();

    let station = StationConfig::default()
        .with_ssid(match settings::WIFI_SSID.try_into() {
            Ok(ssid) => ssid,
            Err(e) => fatal("WIFI_SSID rejected by the WiFi driver", e),
        })
        .with_authentication(if settings::WIFI_PASSWORD.is_empty() {
            AuthenticationMethodConfig::Open
        } else {
            match settings::WIFI_PASSWORD.try_into() {
                Ok(pw) => AuthenticationMethodConfig::Wpa2Personal(pw),
                Err(e) => fatal("WIFI_PASSWORD rejected by the WiFi driver", e),
            }
        });
    let controller = match WifiController::new(
        peripherals.WIFI,
        ControllerConfig::default().with_initial_config(WifiConfig::Station(station)),
    ) {
        Ok(c) => c,
        Err(e) => fatal("WiFi start failed", e),
    };
    wdt.feed();

    let (stack, runner) = embassy_net::new(
        Interface::station(),
        embassy_net::Config::dhcpv4(Default::default()),
        make_static!(StackResources<4>, StackResources::<4>::new()),
        net_seed,
    );

    promise_progress_within(LINK_WAIT_S);
    spawner.spawn(spawn_or_die(watchdog_task(wdt)));
    spawner.spawn(spawn_or_die(wifi_task(controller)));
    spawner.spawn(spawn_or_die(net_task(runner)));

    heartbeat_loop(stack, boot_id).await
}

fn spawn_or_die<T, E: core::fmt::Debug>(token: Result<T, E>) -> T {
    match token {
        Ok(t) => t,
        Err(e) => fatal("task spawn failed", e),
    }
}

/// Logs and panics; the panic handler prints a backtrace, then the watchdog
/// resets the chip.
fn fatal(what: &str, err: impl core::fmt::Debug) -> ! {
    panic!("{what}: {err:?}")
}

async fn heartbeat_loop(stack: Stack<'static>, boot_id: BootId) -> ! {
    let mut tcp = TcpClient::new(
        stack,
        make_static!(
            TcpClientState<1, 1024, 1024>,
            TcpClientState::<1, 1024, 1024>::new()
        ),
    );
    tcp.set_timeout(Some(Duration::from_secs(SOCKET_TIMEOUT_S)));
    let dns = DnsSocket::new(stack);

    let mut interval_s = settings::INTERVAL_S;
    let mut backoff = Backoff::new(BACKOFF_BASE_S, interval_s.max(BACKOFF_MIN_CAP_S));
    let mut seq: u64 = 0;
    let mut body = [0u8; MAX_BODY_LEN];
    let mut rx = [0u8; 1024];

    println!(
        "posting to {} every {}s",
        settings::HEARTBEAT_URL,
        interval_s
    );

    loop {
        promise_progress_within(LINK_WAIT_S);
        if with_timeout(Duration::from_secs(LINK_WAIT_S), stack.wait_config_up())
            .await
            .is_err()
        {
            let delay = backoff.fail(Some(jitter()));
            println!("no network yet (WiFi or DHCP); retrying in {delay}s");
            sleep_s(delay).await;
            continue;
        }

        seq += 1;
        let rssi = match RSSI_DBM.load(Ordering::Relaxed) {
            0 => None,
            dbm => Some(dbm),
        };
        let beat = Heartbeat {
            boot_id: Some(boot_id.as_str()),
            uptime_s: Some(uptime_s()),
            seq: Some(seq),
            fw: Some(FIRMWARE),
            rssi,
        };
        let len = match beat.encode(&mut body) {
            Ok(len) => len,
            Err(e) => fatal("heartbeat encoding failed", e),
        };

        promise_progress_within(REQUEST_TIMEOUT_S);
        let result = with_timeout(
            Duration::from_secs(REQUEST_TIMEOUT_S),
            post(&tcp, &dns, &body[..len], &mut rx),
        )
        .await;

        let delay = match result {
            Ok(Ok((code, next_in_s))) => match StatusClass::from_status(code) {
                StatusClass::Accepted => {
                    backoff.succeed();
                    if let Some(next) = next_in_s {
                        interval_s = heartbeat_proto::clamp_interval_s(next);
                    }
                    println!("beat {seq}: HTTP {code}, next in {interval_s}s");
                    interval_s
                }
                StatusClass::BadKey => {
                    let d = backoff.fail_hard(Some(jitter()));
                    println!(
                        "beat {seq}: HTTP {code}: {}; retry in {d}s",
                        StatusClass::hint(code)
                    );
                    d
                }
                StatusClass::Refused | StatusClass::ServerError => {
                    let d = backoff.fail(Some(jitter()));
                    println!(
                        "beat {seq}: HTTP {code}: {}; retry in {d}s",
                        StatusClass::hint(code)
                    );
                    d
                }
            },
            Ok(Err(e)) => {
                let d = backoff.fail(Some(jitter()));
                println!(
                    "beat {seq}: request to {} failed: {e:?}; retry in {d}s",
                    settings::SERVER_HOST
                );
                d
            }
            Err(_) => {
                let d = backoff.fail(Some(jitter()));
                println!("beat {seq}: no answer within {REQUEST_TIMEOUT_S}s; retry in {d}s");
                d
            }
        };
        sleep_s(delay).await;
    }
}

async fn sleep_s(seconds: u32) {
    promise_progress_within(u64::from(seconds));
    Timer::after(Duration::from_secs(u64::from(seconds))).await;
}

/// A random number for backoff jitter (the radio keeps the RNG seeded).
fn jitter() -> u32 {
    esp_hal::rng::Rng::new().random()
}

/// One POST. Returns the HTTP status and, for a 2xx reply, the server's
/// `next_in_s` if the body could be read and parsed.
async fn post(
    tcp: &TcpClient<'_, 1, 1024, 1024>,
    dns: &DnsSocket<'_>,
    body: &[u8],
    rx: &mut [u8],
) -> Result<(u16, Option<u64>), reqwless::Error> {
    let headers = [
        ("Authorization", settings::AUTHORIZATION),
        ("Connection", "close"),
    ];
    let mut client = HttpClient::new(tcp, dns);
    let mut request = client
        .request(Method::POST, settings::HEARTBEAT_URL)
        .await?
        .headers(&headers)
        .content_type(ContentType::ApplicationJson)
        .body(body);
    let response = request.send(rx).await?;
    let code = response.status.0;
    if !(200..300).contains(&code) {
        return Ok((code, None));
    }
    let next_in_s = match response.body().read_to_end().await {
        Ok(bytes) => match parse_reply(bytes) {
            Ok(reply) => reply.next_in_s,
            Err(e) => {
                println!("unexpected reply body: {e}");
                None
            }
        },
        Err(e) => {
            println!("could not read reply body: {e:?}");
            None
        }
    };
    Ok((code, next_in_s))
}

/// Keeps the station connected: connect, wait for a disconnect, retry.
/// While connected, refreshes the signal strength for the heartbeat.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) {
    let mut backoff = Backoff::new(2, 30);
    loop {
        println!("WiFi: connecting to {:?}", settings::WIFI_SSID);
        match with_timeout(
            Duration::from_secs(WIFI_CONNECT_TIMEOUT_S),
            controller.connect_async(),
        )
        .await
        {
            Err(_) => {
                // Abandon the stuck attempt so the next one starts clean.
                println!("WiFi: no answer from the access point; starting over");
                let _ = with_timeout(Duration::from_secs(5), controller.disconnect_async()).await;
            }
            Ok(Err(e)) => println!("WiFi: connect failed: {e:?}"),
            Ok(Ok(_)) => {
                backoff.succeed();
                println!("WiFi: connected");
                let refresh_rssi = async {
                    while controller.is_connected() {
                        if let Ok(dbm) = controller.rssi() {
                            RSSI_DBM.store(dbm, Ordering::Relaxed);
                        }
                        Timer::after(Duration::from_secs(RSSI_REFRESH_S)).await;
                    }
                };
                let reason =
                    match select(controller.wait_for_disconnect_async(), refresh_rssi).await {
                        Either::First(info) => Some(info),
                        Either::Second(()) => None,
                    };
                RSSI_DBM.store(0, Ordering::Relaxed);
                println!("WiFi: disconnected ({reason:?})");
            }
        }
        let delay = backoff.fail(Some(jitter()));
        Timer::after(Duration::from_secs(u64::from(delay))).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface>) {
    runner.run().await
}

/// Feeds the hardware watchdog once a second, but only while the main loop
/// keeps its promise to check in. If the executor itself hangs, nothing
/// feeds the watchdog either; both end in a reset.
#[embassy_executor::task]
async fn watchdog_task(mut wdt: Wdt<TIMG1<'static>>) {
    let mut warned = false;
    loop {
        if uptime_s() <= u64::from(PROGRESS_DEADLINE_S.load(Ordering::Relaxed)) {
            wdt.feed();
            warned = false;
        } else if !warned {
            println!("main loop stopped making progress; the watchdog will reset the chip");
            warned = true;
        }
        Timer::after(Duration::from_secs(1)).await;
    }
}
