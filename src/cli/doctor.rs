//! `beyond doctor`: known-answer checks on a device, so a driver that computes wrong results is
//! found before a run trusts it.

use clap::Args;
use serde::Serialize;

use beyond::device::check::{Check, known_answers};
use beyond::device::{self, DeviceChoice, DeviceInfo};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The device to check; without it, the GPU wgpu finds (a software one too) and the CPU.
    #[arg(long, value_enum)]
    pub device: Option<DeviceChoice>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Examined {
    requested: DeviceChoice,
    /// The device checked; absent when none could be set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceInfo>,
    /// Why there is no device to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
    checks: Vec<Check>,
    passed: bool,
}

#[derive(Serialize)]
struct Report {
    devices: Vec<Examined>,
    /// Every device that could be set up passed every check, and a device named with
    /// `--device` could be set up.
    healthy: bool,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let choices = match args.device {
        Some(choice) => vec![choice],
        None => vec![DeviceChoice::Wgpu, DeviceChoice::Cpu],
    };
    let mut devices = Vec::new();
    for requested in choices {
        if !args.json {
            eprintln!("checking {requested} ...");
        }
        devices.push(match device::select_unchecked(requested) {
            Ok((device, info)) => {
                let checks = known_answers(&device);
                Examined {
                    requested,
                    passed: checks.iter().all(|c| c.passed),
                    device: Some(info),
                    unavailable: None,
                    checks,
                }
            }
            Err(e) => Examined {
                requested,
                device: None,
                unavailable: Some(e.to_string()),
                checks: Vec::new(),
                // A device named with --device must be there; without it, a missing GPU is
                // only reported.
                passed: args.device.is_none(),
            },
        });
    }
    let report = Report {
        healthy: devices.iter().all(|d| d.passed),
        devices,
    };
    if args.json {
        super::print_json(&report)?;
    } else {
        print_report(&report);
    }
    let names = |missing: bool| -> Vec<String> {
        report
            .devices
            .iter()
            .filter(|d| !d.passed && d.unavailable.is_some() == missing)
            .map(|d| d.requested.to_string())
            .collect()
    };
    let (wrong, missing) = (names(false), names(true));
    if wrong.is_empty() && missing.is_empty() {
        return Ok(());
    }
    if args.json {
        // The report above already says it; the exit code says it to scripts.
        std::process::exit(1);
    }
    if !wrong.is_empty() {
        anyhow::bail!(
            "{} computes wrong results: do not train or evaluate on it (beyond refuses it unless \
             --trust-device is given); use --device cpu, or update the driver",
            wrong.join(", ")
        );
    }
    anyhow::bail!(
        "{} could not be set up, so nothing was checked on it",
        missing.join(", ")
    )
}

fn print_report(report: &Report) {
    for d in &report.devices {
        match (&d.device, &d.unavailable) {
            (Some(info), _) => println!("{}: {}", d.requested, info.summary()),
            (None, Some(why)) => println!("{}: not available ({why})", d.requested),
            (None, None) => println!("{}:", d.requested),
        }
        for c in &d.checks {
            println!(
                "  {} {:<15} {:>6.1} s  {}",
                if c.passed { "pass" } else { "FAIL" },
                c.name,
                c.seconds,
                c.detail
            );
        }
    }
}
