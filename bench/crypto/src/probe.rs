//! Exports for measuring how much each backend adds to a wasm module. Built as a cdylib with
//! exactly one `probe-with-*` feature and any of the `probe-<family>` features; without them this
//! module is empty. `probe-base` alone gives the size of the surrounding std/allocator code.

#[cfg(feature = "probe")]
mod exports {
    #[allow(unused_imports)]
    use crate::alg::{Alg, Backend, KeyMaterial};

    #[cfg(feature = "probe-with-compact")]
    #[allow(dead_code)]
    type P = crate::backend_compact::Compact;
    #[cfg(feature = "probe-with-own")]
    #[allow(dead_code)]
    type P = crate::backend_own::Own;
    #[cfg(feature = "probe-with-ring")]
    #[allow(dead_code)]
    type P = crate::backend_ring::Ring;
    #[cfg(feature = "probe-with-rustcrypto")]
    #[allow(dead_code)]
    type P = crate::backend_rustcrypto::RustCrypto;

    /// # Safety
    /// `ptr` must point to `len` readable bytes (the host wrote them into linear memory).
    unsafe fn bytes(ptr: *const u8, len: usize) -> Vec<u8> {
        if ptr.is_null() {
            return Vec::new();
        }
        unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
    }

    /// Keeps allocation and slice copying in the baseline so that it cancels out.
    #[no_mangle]
    pub unsafe extern "C" fn probe_base(p: *const u8, len: usize) -> i32 {
        let v = unsafe { bytes(p, len) };
        v.iter().map(|&b| i32::from(b)).sum()
    }

    #[cfg(feature = "probe-rsa")]
    #[no_mangle]
    pub unsafe extern "C" fn probe_rsa(
        alg: u32,
        n: *const u8,
        n_len: usize,
        e: *const u8,
        e_len: usize,
        m: *const u8,
        m_len: usize,
        s: *const u8,
        s_len: usize,
    ) -> i32 {
        let alg = match alg {
            0 => Alg::Rs256,
            1 => Alg::Rs384,
            2 => Alg::Rs512,
            3 => Alg::Ps256,
            4 => Alg::Ps384,
            _ => Alg::Ps512,
        };
        let key = KeyMaterial::Rsa {
            n: unsafe { bytes(n, n_len) },
            e: unsafe { bytes(e, e_len) },
        };
        verify(alg, &key, unsafe { &bytes(m, m_len) }, unsafe {
            &bytes(s, s_len)
        })
    }

    #[cfg(any(feature = "probe-es256", feature = "probe-es384"))]
    unsafe fn ec(
        alg: Alg,
        x: *const u8,
        y: *const u8,
        coord: usize,
        m: *const u8,
        m_len: usize,
        s: *const u8,
    ) -> i32 {
        let key = KeyMaterial::Ec {
            x: unsafe { bytes(x, coord) },
            y: unsafe { bytes(y, coord) },
        };
        verify(alg, &key, unsafe { &bytes(m, m_len) }, unsafe {
            &bytes(s, 2 * coord)
        })
    }

    #[cfg(feature = "probe-es256")]
    #[no_mangle]
    pub unsafe extern "C" fn probe_es256(
        x: *const u8,
        y: *const u8,
        m: *const u8,
        m_len: usize,
        s: *const u8,
    ) -> i32 {
        unsafe { ec(Alg::Es256, x, y, 32, m, m_len, s) }
    }

    #[cfg(feature = "probe-es384")]
    #[no_mangle]
    pub unsafe extern "C" fn probe_es384(
        x: *const u8,
        y: *const u8,
        m: *const u8,
        m_len: usize,
        s: *const u8,
    ) -> i32 {
        unsafe { ec(Alg::Es384, x, y, 48, m, m_len, s) }
    }

    #[cfg(feature = "probe-eddsa")]
    #[no_mangle]
    pub unsafe extern "C" fn probe_eddsa(
        x: *const u8,
        m: *const u8,
        m_len: usize,
        s: *const u8,
    ) -> i32 {
        let key = KeyMaterial::Ed25519 {
            x: unsafe { bytes(x, 32) },
        };
        verify(Alg::EdDsa, &key, unsafe { &bytes(m, m_len) }, unsafe {
            &bytes(s, 64)
        })
    }

    #[cfg(any(
        feature = "probe-rsa",
        feature = "probe-es256",
        feature = "probe-es384",
        feature = "probe-eddsa"
    ))]
    fn verify(alg: Alg, key: &KeyMaterial, m: &[u8], s: &[u8]) -> i32 {
        match P::prepare(alg, key) {
            Some(k) => i32::from(P::verify(&k, alg, m, s)),
            None => -1,
        }
    }

    #[cfg(any(
        feature = "probe-sha-010",
        feature = "probe-sha-011",
        feature = "probe-sha-ring"
    ))]
    #[no_mangle]
    pub unsafe extern "C" fn probe_sha256(p: *const u8, len: usize, out: *mut u8) {
        #[cfg(feature = "probe-sha-010")]
        let f = crate::sha::sha2_010;
        #[cfg(feature = "probe-sha-011")]
        let f = crate::sha::sha2_011;
        #[cfg(feature = "probe-sha-ring")]
        let f = crate::sha::ring_digest;
        let digest = f(&unsafe { bytes(p, len) });
        if !out.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(digest.as_ptr(), out, 32) };
        }
    }
}
