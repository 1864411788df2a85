//! Availability figures computed from state intervals (per local day / week / month).
