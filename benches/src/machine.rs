//! The machine a run was measured on, reported with its figures.

use serde::Serialize;

/// What the numbers depend on besides the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// Cores this process may use (`std::thread::available_parallelism`).
    pub cores: usize,
    /// The CPU model (`model name` in /proc/cpuinfo), or "unknown".
    pub cpu_model: String,
    /// Operating system and kernel release, e.g. "linux 6.18.4".
    pub os: String,
    /// "release" or "debug" (a debug build is many times slower).
    pub build: &'static str,
    /// Version of rill-client.
    pub version: &'static str,
}

impl Machine {
    /// Describes this machine.
    pub fn detect() -> Machine {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_model(&text))
            .unwrap_or_else(|| "unknown".to_string());
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_string())
            .unwrap_or_default();
        let os = if release.is_empty() {
            std::env::consts::OS.to_string()
        } else {
            format!("{} {release}", std::env::consts::OS)
        };
        Machine {
            cores,
            cpu_model,
            os,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The first `model name` (x86) or `Hardware`/`Processor` (some ARM kernels) line.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Hardware", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                let value = value.trim();
                (name.trim() == *key && !value.is_empty()).then(|| value.to_string())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_name() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
        assert!(Machine::detect().cores >= 1);
    }
}
