//! Choosing the compute device: a GPU through wgpu (Vulkan, Metal, DX12 or WebGPU) or the CPU
//! through Burn's pure-Rust flex backend. `Auto` tries the GPU and falls back to the CPU, and the
//! answer always says which adapter was found. A GPU is trusted only after [`check`] finds its
//! sums right.

pub mod check;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The device a user asks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The GPU if one answers, else the CPU.
    #[default]
    Auto,
    /// wgpu on whichever graphics API the platform offers.
    Wgpu,
    /// wgpu pinned to Vulkan.
    Vulkan,
    /// wgpu pinned to Metal (macOS).
    Metal,
    /// wgpu pinned to Direct3D 12 (Windows).
    Dx12,
    /// wgpu pinned to OpenGL / OpenGL ES: older drivers, and a WGSL path on any machine.
    Gl,
    /// wgpu pinned to the browser's WebGPU.
    Webgpu,
    /// The CPU, through Burn's flex backend.
    Cpu,
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Vulkan => "vulkan",
            DeviceChoice::Metal => "metal",
            DeviceChoice::Dx12 => "dx12",
            DeviceChoice::Gl => "gl",
            DeviceChoice::Webgpu => "webgpu",
            DeviceChoice::Cpu => "cpu",
        };
        f.write_str(name)
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let all = [
            DeviceChoice::Auto,
            DeviceChoice::Wgpu,
            DeviceChoice::Vulkan,
            DeviceChoice::Metal,
            DeviceChoice::Dx12,
            DeviceChoice::Gl,
            DeviceChoice::Webgpu,
            DeviceChoice::Cpu,
        ];
        all.into_iter()
            .find(|c| c.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::Device(format!(
                    "unknown device `{s}`: expected auto, wgpu, vulkan, metal, dx12, gl, webgpu or cpu"
                ))
            })
    }
}

/// What was actually set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// What was asked for.
    pub requested: DeviceChoice,
    /// `gpu` or `cpu`.
    pub kind: String,
    /// The adapter's name (`NVIDIA GeForce RTX 4090`, `llvmpipe (LLVM 15.0.6, 256 bits)`, `cpu`).
    pub adapter: String,
    /// The graphics API (`Vulkan`, `Metal`, `Dx12`, `BrowserWebGpu`, `Gl`) or `flex` on the CPU.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (a software rasteriser), ...
    pub device_type: String,
    /// Why `auto` ended on the CPU, if it did.
    pub fallback_reason: Option<String>,
}

impl DeviceInfo {
    fn cpu(requested: DeviceChoice, fallback_reason: Option<String>) -> Self {
        Self {
            requested,
            kind: "cpu".into(),
            adapter: "cpu".into(),
            backend: "flex".into(),
            device_type: "Cpu".into(),
            fallback_reason,
        }
    }

    /// One line for people: `gpu: NVIDIA ... (Vulkan)` or `cpu (flex)`.
    pub fn summary(&self) -> String {
        let base = if self.kind == "cpu" {
            "cpu (flex)".to_string()
        } else {
            format!(
                "gpu: {} ({}, {})",
                self.adapter, self.backend, self.device_type
            )
        };
        match &self.fallback_reason {
            Some(reason) => format!("{base}; no GPU: {reason}"),
            None => base,
        }
    }
}

/// What opening a GPU choice gave: the device, or why there is none.
type Opened = std::result::Result<(Device, DeviceInfo), String>;

/// GPU devices opened so far, and whether each computes right sums (`None`: not checked yet).
/// A wgpu runtime can be set up only once per process, so both answers are kept.
type Registry = Mutex<BTreeMap<DeviceChoice, (Opened, Option<std::result::Result<(), String>>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Sets up the device for `choice`: a GPU only once it has passed [`check::check_sums`] (a
/// device that fails is refused with what it got wrong; `auto` falls back to the CPU instead).
pub fn select(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::flex(), DeviceInfo::cpu(choice, None))),
        DeviceChoice::Auto => {
            let found = open(DeviceChoice::Wgpu).and_then(|found| {
                // A software rasteriser is passed over unchecked: the CPU backend is faster.
                if found.1.device_type != "Cpu" {
                    trust(DeviceChoice::Wgpu, &found)?;
                }
                Ok(found)
            });
            Ok(prefer_hardware(found))
        }
        gpu => {
            let found = open(gpu)?;
            trust(gpu, &found)?;
            Ok(found)
        }
    }
}

/// The device for `choice` whether or not it passes the check: for a user who insists, and
/// for the doctor, which runs its own checks.
pub fn select_unchecked(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    match choice {
        DeviceChoice::Auto => Ok(prefer_hardware(open(DeviceChoice::Wgpu))),
        other => open(other),
    }
}

/// Opens `choice` (once per process for a GPU).
fn open(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    if choice == DeviceChoice::Cpu {
        return Ok((Device::flex(), DeviceInfo::cpu(choice, None)));
    }
    let mut registry = registry()
        .lock()
        .map_err(|_| Error::Device("the device registry was poisoned".into()))?;
    let (opened, _) = registry
        .entry(choice)
        .or_insert_with(|| (init_gpu(choice).map_err(|e| e.to_string()), None));
    opened.clone().map_err(Error::Device)
}

/// Whether the device opened for `choice` computes right sums (checked once per process).
fn trust(choice: DeviceChoice, (device, info): &(Device, DeviceInfo)) -> Result<()> {
    let mut registry = registry()
        .lock()
        .map_err(|_| Error::Device("the device registry was poisoned".into()))?;
    let Some((_, verdict)) = registry.get_mut(&choice) else {
        return Err(Error::Device(format!("{choice} was never opened")));
    };
    let verdict = verdict.get_or_insert_with(|| match check::sums_or_failure(device) {
        None => Ok(()),
        Some(fault) => Err(fault.to_string()),
    });
    refuse_faulty(info, verdict.clone())
}

/// A device that got a sum wrong is refused, naming the adapter and the sum.
fn refuse_faulty(info: &DeviceInfo, verdict: std::result::Result<(), String>) -> Result<()> {
    verdict.map_err(|fault| Error::DeviceFault {
        adapter: format!("{} ({})", info.adapter, info.backend),
        fault,
    })
}

/// Sets up the device for `choice` without blocking (what the browser requires).
pub async fn select_async(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::flex(), DeviceInfo::cpu(choice, None))),
        DeviceChoice::Auto => Ok(prefer_hardware(init_gpu_async(DeviceChoice::Wgpu).await)),
        gpu => init_gpu_async(gpu).await,
    }
}

/// What `auto` keeps: a hardware GPU, else the CPU. A software rasteriser (Mesa's llvmpipe,
/// SwiftShader) is slower than the flex backend on the same cores, so `auto` passes it over.
fn prefer_hardware(found: Result<(Device, DeviceInfo)>) -> (Device, DeviceInfo) {
    let auto = DeviceChoice::Auto;
    match found {
        Ok((device, mut info)) if info.device_type != "Cpu" => {
            info.requested = auto;
            (device, info)
        }
        Ok((_, info)) => {
            let reason = format!(
                "only a software rasteriser answered ({}, {}); the CPU backend is faster",
                info.adapter, info.backend
            );
            (Device::flex(), DeviceInfo::cpu(auto, Some(reason)))
        }
        Err(Error::DeviceFault { adapter, fault }) => {
            let reason = format!("{adapter} computes wrong sums ({fault})");
            (Device::flex(), DeviceInfo::cpu(auto, Some(reason)))
        }
        Err(e) => (Device::flex(), DeviceInfo::cpu(auto, Some(e.to_string()))),
    }
}

/// The wgpu graphics API for a GPU choice.
fn graphics_api(choice: DeviceChoice) -> burn::tensor::wgpu::WgpuBackend {
    use burn::tensor::wgpu::WgpuBackend;
    match choice {
        DeviceChoice::Vulkan => WgpuBackend::Vulkan,
        DeviceChoice::Metal => WgpuBackend::Metal,
        DeviceChoice::Dx12 => WgpuBackend::Dx12,
        DeviceChoice::Gl => WgpuBackend::Gl,
        DeviceChoice::Webgpu => WgpuBackend::WebGpu,
        _ => WgpuBackend::Auto,
    }
}

fn gpu_info(
    requested: DeviceChoice,
    adapter: &burn::tensor::wgpu::wgpu::AdapterInfo,
) -> DeviceInfo {
    DeviceInfo {
        requested,
        kind: "gpu".into(),
        // Browsers keep the adapter's name to themselves: the driver's words, or say so.
        adapter: [&adapter.name, &adapter.driver, &adapter.driver_info]
            .into_iter()
            .find(|s| !s.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "unnamed adapter".into()),
        backend: format!("{:?}", adapter.backend),
        device_type: format!("{:?}", adapter.device_type),
        fallback_reason: None,
    }
}

#[cfg(not(target_family = "wasm"))]
fn init_gpu(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    if choice == DeviceChoice::Webgpu {
        return Err(Error::Device(
            "webgpu is the browser's API; on the desktop use wgpu, vulkan, metal, dx12 or gl"
                .into(),
        ));
    }
    // Some drivers panic instead of failing; a panic here must not take the program down.
    let result = std::panic::catch_unwind(|| {
        Device::wgpu_options()
            .graphics_api(graphics_api(choice))
            .init_with_setup()
    });
    match result {
        Ok(Ok((device, setup))) => Ok((device, gpu_info(choice, &setup.adapter.get_info()))),
        Ok(Err(e)) => Err(Error::Device(format!("{choice}: {e}"))),
        Err(_) => Err(Error::Device(format!(
            "{choice}: the GPU driver failed while starting"
        ))),
    }
}

#[cfg(target_family = "wasm")]
fn init_gpu(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    Err(Error::Device(format!(
        "{choice}: in the browser the GPU is set up asynchronously; use `select_async`"
    )))
}

async fn init_gpu_async(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    #[cfg(target_family = "wasm")]
    if let Some(shared) = page_gpu::device(choice) {
        return Ok(shared);
    }
    let options = Device::wgpu_options().graphics_api(graphics_api(choice));
    match options.init_with_setup_async().await {
        Ok((device, setup)) => Ok((device, gpu_info(choice, &setup.adapter.get_info()))),
        Err(e) => Err(Error::Device(format!("{choice}: {e}"))),
    }
}

/// The web page's own GPU device (the one eframe draws with), shared by the models trained in the
/// page, as the page registers it: one device for drawing and computing, where two would each
/// hold their own memory and queue.
#[cfg(target_family = "wasm")]
pub mod page_gpu {
    use std::cell::RefCell;

    use burn::prelude::Device;
    use burn::tensor::wgpu::WgpuSetup;

    use super::{DeviceChoice, DeviceInfo, gpu_info};

    enum Shared {
        /// Registered by the page, not yet used.
        Setup(WgpuSetup),
        /// Registered with Burn once, then cloned.
        Device(Box<(Device, burn::tensor::wgpu::wgpu::AdapterInfo)>),
        /// Burn could not use it: the models get a device of their own.
        Refused,
    }

    thread_local! {
        static SHARED: RefCell<Option<Shared>> = const { RefCell::new(None) };
    }

    /// Offers the page's device (WebGPU only: a WebGL context cannot compute).
    pub fn share(setup: WgpuSetup) {
        if setup.backend == burn::tensor::wgpu::wgpu::Backend::BrowserWebGpu {
            SHARED.with(|s| *s.borrow_mut() = Some(Shared::Setup(setup)));
        }
    }

    /// The shared device for a GPU choice, when the page offered one that Burn can use.
    pub(super) fn device(choice: DeviceChoice) -> Option<(Device, DeviceInfo)> {
        SHARED.with(|s| {
            let mut slot = s.borrow_mut();
            if let Some(Shared::Setup(setup)) = slot.take() {
                let info = setup.adapter.get_info();
                *slot = Some(match Device::wgpu_options().setup(setup).init() {
                    Ok(device) => Shared::Device(Box::new((device, info))),
                    Err(e) => {
                        log::warn!("the page's GPU device cannot train: {e}");
                        Shared::Refused
                    }
                });
            }
            match slot.as_ref()? {
                Shared::Device(shared) => {
                    let (device, info) = shared.as_ref();
                    let mut about = gpu_info(choice, info);
                    about.backend = format!("{} (shared with the page)", about.backend);
                    Some((device.clone(), about))
                }
                Shared::Refused | Shared::Setup(_) => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llvmpipe() -> DeviceInfo {
        DeviceInfo {
            requested: DeviceChoice::Vulkan,
            kind: "gpu".into(),
            adapter: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            backend: "Vulkan".into(),
            device_type: "IntegratedGpu".into(),
            fallback_reason: None,
        }
    }

    /// What Debian 12's Mesa 22 gives: the device is refused with the sum it got wrong, and
    /// `auto` falls back to the CPU saying why.
    #[test]
    fn a_device_with_wrong_sums_is_refused_and_auto_falls_back() {
        let fault = check::SumFault {
            what: "sum of 262208 ones".into(),
            expected: 262208.0,
            got: 262132.0,
        };
        let refused = refuse_faulty(&llvmpipe(), Err(fault.to_string())).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)"),
            "{message}"
        );
        assert!(
            message.contains("sum of 262208 ones gave 262132"),
            "{message}"
        );
        assert!(message.contains("--device cpu"), "{message}");
        let (_, info) = prefer_hardware(Err(refused));
        assert_eq!(info.kind, "cpu");
        let reason = info.fallback_reason.unwrap();
        assert!(reason.contains("computes wrong sums"), "{reason}");
        assert!(refuse_faulty(&llvmpipe(), Ok(())).is_ok());
    }
}
