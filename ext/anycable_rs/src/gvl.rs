//! Running Rust code without Ruby's GVL, so other Ruby threads run meanwhile.
//!
//! The code runs inside `rb_thread_call_without_gvl` with an unblocking function: when Ruby
//! needs the thread back (`Thread#kill`, `Thread#raise`, a signal, exit) it calls `unblock`
//! from another thread, which must make the code return soon. Ruby then checks for pending
//! interrupts and may raise; that jump is caught by `rb_protect` (through magnus) so it never
//! crosses Rust frames that own anything. The caller gets the code's result *and* the
//! interrupt, so nothing the code produced is lost (a taken job can be put back).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use magnus::Error;

/// What a GVL-free call produced.
pub(crate) struct Outcome<R> {
    /// The code's result; `None` only if it panicked.
    pub(crate) value: Option<R>,
    /// A Ruby interrupt (exception) raised when the GVL came back; re-raise it.
    pub(crate) interrupt: Option<Error>,
}

struct Call<F, R> {
    code: Option<F>,
    result: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn run<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `without_gvl` keeps on its stack for the whole
    // `rb_thread_call_without_gvl` call, and only this function touches it meanwhile.
    let call = unsafe { &mut *data.cast::<Call<F, R>>() };
    if let Some(code) = call.code.take() {
        // A panic must not unwind into Ruby's C frames: keep it and report it afterwards.
        call.result = Some(catch_unwind(AssertUnwindSafe(code)));
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn unblock<U: Fn() + Sync>(data: *mut c_void) {
    // SAFETY: `data` is the `U` that `without_gvl` borrows for the whole call; Ruby calls this
    // function only while that call runs. `U` is `Fn`, so a shared reference suffices.
    let unblock = unsafe { &*data.cast::<U>() };
    let _ = catch_unwind(AssertUnwindSafe(unblock));
}

/// Runs `code` without the GVL; `unblock_with` (called from another thread, hence `Sync`)
/// must make it return soon. `code` must not touch Ruby: it runs without the GVL.
pub(crate) fn without_gvl<F, R, U>(code: F, unblock_with: U) -> Outcome<R>
where
    F: FnOnce() -> R,
    U: Fn() + Sync,
{
    let mut call = Call { code: Some(code), result: None };
    let call_ptr: *mut Call<F, R> = &mut call;
    let unblock_ptr: *const U = &unblock_with;
    let protected = magnus::rb_sys::protect(|| {
        // SAFETY: both pointers stay valid for the whole call (they point into this frame);
        // `run` and `unblock` match the pointee types; Ruby holds no lock of ours meanwhile.
        unsafe {
            rb_sys::rb_thread_call_without_gvl(
                Some(run::<F, R>),
                call_ptr.cast(),
                Some(unblock::<U>),
                unblock_ptr.cast_mut().cast(),
            );
        }
        rb_sys::Qnil as rb_sys::VALUE
    });
    let interrupt = protected.err();
    match call.result {
        Some(Ok(value)) => Outcome { value: Some(value), interrupt },
        Some(Err(panic)) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            // SAFETY: we are back on a Ruby thread holding the GVL.
            let ruby = unsafe { magnus::Ruby::get_unchecked() };
            let error =
                Error::new(ruby.exception_fatal(), format!("anycable-rs: panic without the GVL: {message}"));
            Outcome { value: None, interrupt: interrupt.or(Some(error)) }
        }
        None => Outcome { value: None, interrupt },
    }
}
