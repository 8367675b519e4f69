//! Run-time compilation of the CUDA C kernels in `kernels.cu` with NVRTC, once per
//! process and device (compiled to a cubin for the device's architecture, so the driver
//! need not JIT PTX newer than itself), and the per-device table of loaded functions.

use super::runtime::{Gpu, cuda_err};
use crate::error::{Error, Result};
use cudarc::driver::{CudaFunction, CudaModule};
use cudarc::nvrtc::sys;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Arc, RwLock};

/// The CUDA C source of every NVRTC kernel (no `#include`s: it compiles with NVRTC's
/// built-ins alone).
pub const KERNEL_SOURCE: &str = include_str!("kernels.cu");

/// Whether libnvrtc can be loaded (it is searched for on the loader's path, e.g.
/// `LD_LIBRARY_PATH`).
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { sys::is_culib_present() }
}

/// NVRTC's (major, minor) version, when the library loads.
pub fn nvrtc_version() -> Result<(i32, i32)> {
    guarded(|| {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: valid out-pointers.
        check(
            unsafe { sys::nvrtcVersion(&mut major, &mut minor) },
            "nvrtcVersion",
        )?;
        Ok((major, minor))
    })
}

/// Runs `f`, turning a missing library or symbol (cudarc panics) into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !nvrtc_available() {
        return Err(Error::precondition(
            "NVRTC",
            "libnvrtc could not be loaded (put the CUDA toolkit's lib directory on LD_LIBRARY_PATH)",
        ));
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::precondition(
            "NVRTC",
            "libnvrtc lacks a required function",
        ))
    })
}

fn check(r: sys::nvrtcResult, what: &str) -> Result<()> {
    if r == sys::nvrtcResult::NVRTC_SUCCESS {
        Ok(())
    } else {
        Err(Error::precondition(
            "NVRTC",
            format!("{what} failed: {r:?}"),
        ))
    }
}

/// What to produce: a cubin for a real architecture (`sm_80`) or PTX for a virtual one
/// (`compute_80`).
enum Output {
    Cubin,
    Ptx,
}

/// Compiles [`KERNEL_SOURCE`] for `arch` and returns the image: PTX text for a virtual
/// architecture (`"compute_80"`), a cubin for a real one (`"sm_90"`). Needs libnvrtc, no
/// GPU; errors carry NVRTC's log.
pub fn compile_kernel_source(arch: &str) -> Result<Vec<u8>> {
    let out = if arch.starts_with("sm_") {
        Output::Cubin
    } else {
        Output::Ptx
    };
    compile(arch, out)
}

fn compile(arch: &str, out: Output) -> Result<Vec<u8>> {
    guarded(|| {
        let src = CString::new(KERNEL_SOURCE)
            .map_err(|_| Error::precondition("NVRTC", "kernel source contains NUL"))?;
        let name = c"tf_core_kernels.cu";
        let mut prog: sys::nvrtcProgram = std::ptr::null_mut();
        // SAFETY: valid C strings, no headers.
        check(
            unsafe {
                sys::nvrtcCreateProgram(
                    &mut prog,
                    src.as_ptr(),
                    name.as_ptr(),
                    0,
                    std::ptr::null(),
                    std::ptr::null(),
                )
            },
            "nvrtcCreateProgram",
        )?;
        let result = compile_program(prog, arch, out);
        // SAFETY: `prog` was created above and is destroyed once.
        unsafe { sys::nvrtcDestroyProgram(&mut prog) };
        result
    })
}

fn compile_program(prog: sys::nvrtcProgram, arch: &str, out: Output) -> Result<Vec<u8>> {
    let options: Vec<CString> = [
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
        // Exact IEEE division/sqrt and no flush-to-zero, like the CPU kernels.
        "--fmad=false".to_string(),
        "--prec-div=true".to_string(),
        "--prec-sqrt=true".to_string(),
        "--ftz=false".to_string(),
    ]
    .into_iter()
    .filter_map(|o| CString::new(o).ok())
    .collect();
    let ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: `ptrs` points into `options`, alive for the call.
    let r = unsafe { sys::nvrtcCompileProgram(prog, ptrs.len() as i32, ptrs.as_ptr()) };
    if r != sys::nvrtcResult::NVRTC_SUCCESS {
        let log = program_log(prog);
        return Err(Error::precondition(
            "NVRTC",
            format!("compiling the CUDA kernels for {arch} failed ({r:?}):\n{log}"),
        ));
    }
    let mut size = 0usize;
    let mut image;
    match out {
        Output::Cubin => {
            // SAFETY: valid out-pointer; buffer sized as NVRTC reports.
            check(
                unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) },
                "nvrtcGetCUBINSize",
            )?;
            image = vec![0u8; size];
            check(
                unsafe { sys::nvrtcGetCUBIN(prog, image.as_mut_ptr().cast()) },
                "nvrtcGetCUBIN",
            )?;
        }
        Output::Ptx => {
            // SAFETY: as above.
            check(
                unsafe { sys::nvrtcGetPTXSize(prog, &mut size) },
                "nvrtcGetPTXSize",
            )?;
            image = vec![0u8; size];
            check(
                unsafe { sys::nvrtcGetPTX(prog, image.as_mut_ptr().cast()) },
                "nvrtcGetPTX",
            )?;
        }
    }
    Ok(image)
}

fn program_log(prog: sys::nvrtcProgram) -> String {
    let mut size = 0usize;
    // SAFETY: valid out-pointer; buffer sized as NVRTC reports and NUL-terminated.
    unsafe {
        if sys::nvrtcGetProgramLogSize(prog, &mut size) != sys::nvrtcResult::NVRTC_SUCCESS
            || size == 0
        {
            return String::new();
        }
        let mut buf = vec![0u8; size];
        if sys::nvrtcGetProgramLog(prog, buf.as_mut_ptr().cast()) != sys::nvrtcResult::NVRTC_SUCCESS
        {
            return String::new();
        }
        CStr::from_bytes_until_nul(&buf)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The compiled module of one GPU and a cache of the functions looked up in it.
pub(crate) struct Kernels {
    module: Arc<CudaModule>,
    functions: RwLock<HashMap<String, CudaFunction>>,
}

impl Kernels {
    /// Compiles (cubin for the device's architecture, PTX as a fallback) and loads.
    fn build(gpu: &Gpu) -> std::result::Result<Kernels, String> {
        let (major, minor) = gpu.compute_capability;
        let image = compile(&format!("sm_{major}{minor}"), Output::Cubin)
            .or_else(|_| compile(&format!("compute_{major}{minor}"), Output::Ptx))
            .map_err(|e| e.to_string())?;
        let module = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gpu.ctx.load_module(cudarc::nvrtc::Ptx::from_binary(image))
        }))
        .map_err(|_| "loading the kernel module panicked".to_string())?
        .map_err(|e| format!("loading the kernel module: {e:?}"))?;
        Ok(Kernels {
            module,
            functions: RwLock::new(HashMap::new()),
        })
    }

    /// The kernel `name`, looked up once.
    pub(crate) fn function(&self, op: &'static str, name: &str) -> Result<CudaFunction> {
        if let Some(f) = self
            .functions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(f.clone());
        }
        let f = self
            .module
            .load_function(name)
            .map_err(|e| cuda_err(op, format!("kernel {name}: {e:?}")))?;
        self.functions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), f.clone());
        Ok(f)
    }
}

/// The kernels of `gpu`, compiled on first use (once per process and device).
pub(crate) fn kernels<'a>(op: &'static str, gpu: &'a Gpu) -> Result<&'a Kernels> {
    gpu.kernels
        .get_or_init(|| Kernels::build(gpu))
        .as_ref()
        .map_err(|e| Error::precondition(op, format!("CUDA kernels unavailable: {e}")))
}
