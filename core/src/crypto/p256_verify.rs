//! ECDSA P-256 (secp256r1) signature verification with SHA-256, as JOSE's ES256 uses it: the
//! signature is the raw 64-byte r || s (RFC 7518 §3.4), the key an uncompressed affine point.
//!
//! Written for wasm32, which multiplies 64x64→64 natively but has no 128-bit product:
//! field elements are eight 32-bit words multiplied with 64-bit products, and the product is
//! reduced with the special form of p (FIPS 186-4 D.2.3), which needs only additions.
//! Elements are kept in [0, 2²⁵⁶) rather than [0, p) and made canonical only for comparisons.
//!
//! s⁻¹ mod n comes from Kaliski's almost Montgomery inverse on 64-bit words (shifts, additions
//! and subtractions only), u1 and u2 from Montgomery products mod n. u1·G + u2·Q is one
//! interleaved pass of 33 doublings: each scalar's width-w NAF is cut into eight 32-digit spans,
//! and span j is added from a table of odd multiples of 2³²ʲ·G (built once per process) or
//! 2³²ʲ·Q (built once per key in [`PreparedKey::new`], in affine form so every addition is a
//! mixed one). The x coordinate is compared without an inversion: r·Z² = X, or (r + n)·Z² = X
//! when r + n < p.
//!
//! Nothing here needs to be constant-time: the key, the message and the signature are public.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const MASK: u64 = 0xffff_ffff;

/// p = 2²⁵⁶ − 2²²⁴ + 2¹⁹² + 2⁹⁶ − 1, little-endian 32-bit words.
const P: [u32; 8] = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];
/// The group order n.
const N: [u32; 8] = [
    0xfc63_2551,
    0xf3b9_cac2,
    0xa717_9e84,
    0xbce6_faad,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0xffff_ffff,
];
const B: Fe = Fe([
    0x27d2_604b,
    0x3bce_3c3e,
    0xcc53_b0f6,
    0x651d_06b0,
    0x7698_86bc,
    0xb3eb_bd55,
    0xaa3a_93e7,
    0x5ac6_35d8,
]);
const GX: Fe = Fe([
    0xd898_c296,
    0xf4a1_3945,
    0x2deb_33a0,
    0x7703_7d81,
    0x63a4_40f2,
    0xf8bc_e6e5,
    0xe12c_4247,
    0x6b17_d1f2,
]);
const GY: Fe = Fe([
    0x37bf_51f5,
    0xcbb6_4068,
    0x6b31_5ece,
    0x2bce_3357,
    0x7c0f_9e16,
    0x8ee7_eb4a,
    0xfe1a_7f9b,
    0x4fe3_42e2,
]);

/// Spans of the scalars processed side by side, and their width in digits (the top span also
/// takes the NAF's 257th digit).
const SPANS: usize = 8;
const SPAN: usize = 256 / SPANS;
/// NAF window widths: wider for G, whose tables are built once per VM (128 KiB), than for
/// Q, whose tables are built for every key (4 KiB). Measured under V8, SPANS/Q_WINDOW/G_WINDOW
/// as µs per verification and per key: 4/5/7 83, 143; 4/5/8 77, 138; 8/5/8 66, 197; 4/4/8 82,
/// 119; with the faster scalar inversion: 4/5/8 75, 140; 8/4/8 66, 155; 8/5/8 62, 194. 8/5/8
/// saves 4 µs more per signature but costs 39 µs more per new key, which a client sending a
/// new DPoP key with every proof would make the filter pay each time. On distinct signatures
/// after the one-step carries, 8/4/8 49.2 and 8/4/10 47.0 µs (G's table: 1.3 ms more to build
/// once, 96 KiB more memory). With the faster NAF and field inversion, 8/4/10 47.5 µs, 116 per
/// key; 8/5/10 43.3 µs, 132 per key, and 4 KiB per kept key: kept. A key is kept only for
/// a client whose token it is, so a client pays the 16 µs once per worker and gets 4 µs back on
/// each later proof; a client sending a new key with every proof pays 16 µs more each time.
const G_WINDOW: u32 = 10;
const Q_WINDOW: u32 = 5;
const G_ODD: usize = 1 << (G_WINDOW - 2);
const Q_ODD: usize = 1 << (Q_WINDOW - 2);
/// A width-w NAF of a 256-bit scalar has at most 257 digits.
const NAF_LEN: usize = 257;

// ---------------------------------------------------------------------------------------------
// Field arithmetic mod p.

/// An integer in [0, 2²⁵⁶), little-endian 32-bit words, standing for its residue mod p.
#[derive(Clone, Copy, Debug)]
struct Fe([u32; 8]);

impl Fe {
    const ZERO: Fe = Fe([0; 8]);
    const ONE: Fe = Fe([1, 0, 0, 0, 0, 0, 0, 0]);

    /// Big-endian bytes of a canonical element; `None` when the integer is not below p.
    fn from_bytes(bytes: &[u8; 32]) -> Option<Fe> {
        let words = words_from_be(bytes);
        if less_than(&words, &P) {
            Some(Fe(words))
        } else {
            None
        }
    }

    #[cfg(test)]
    /// The representative in [0, p); 2²⁵⁶ < 2p, so one subtraction is enough.
    fn canonical(&self) -> [u32; 8] {
        if less_than(&self.0, &P) {
            self.0
        } else {
            sub_words(&self.0, &P).0
        }
    }

    fn is_zero(&self) -> bool {
        self.0 == [0; 8] || self.0 == P
    }

    fn equals(&self, other: &Fe) -> bool {
        self.sub(other).is_zero()
    }

    fn add(&self, b: &Fe) -> Fe {
        settle(lanes(self, b, |x, y| x + y))
    }

    fn sub(&self, b: &Fe) -> Fe {
        settle(lanes(self, b, |x, y| x - y))
    }

    /// `k·self − m·b` for small k, m: the doubling formulas' scaled sums in one carry pass.
    fn scaled_sub(&self, k: i64, b: &Fe, m: i64) -> Fe {
        settle(lanes(self, b, |x, y| k * x - m * y))
    }

    /// `self − b − m·c` for small m: a difference of three terms in one carry pass.
    fn sub_two(&self, b: &Fe, c: &Fe, m: i64) -> Fe {
        let mut out = [0i64; 8];
        for (((o, x), y), z) in out.iter_mut().zip(&self.0).zip(&b.0).zip(&c.0) {
            *o = i64::from(*x) - i64::from(*y) - m * i64::from(*z);
        }
        settle(out)
    }

    fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    // One line per column of the 8x8-word product, written out so that every index is a
    // constant (no bounds checks, nothing that could panic) and the code is straight-line.
    #[rustfmt::skip]
    fn mul(&self, b: &Fe) -> Fe {
        let [x0, x1, x2, x3, x4, x5, x6, x7] = self.0.map(u64::from);
        let [y0, y1, y2, y3, y4, y5, y6, y7] = b.0.map(u64::from);
        let mut col = Column::default();
        let c0 = col.add_products(&[x0 * y0]).next_word();
        let c1 = col.add_products(&[x0 * y1, x1 * y0]).next_word();
        let c2 = col.add_products(&[x0 * y2, x1 * y1, x2 * y0]).next_word();
        let c3 = col.add_products(&[x0 * y3, x1 * y2, x2 * y1, x3 * y0]).next_word();
        let c4 = col.add_products(&[x0 * y4, x1 * y3, x2 * y2, x3 * y1, x4 * y0]).next_word();
        let c5 = col.add_products(&[x0 * y5, x1 * y4, x2 * y3, x3 * y2, x4 * y1, x5 * y0]).next_word();
        let c6 = col.add_products(&[x0 * y6, x1 * y5, x2 * y4, x3 * y3, x4 * y2, x5 * y1, x6 * y0]).next_word();
        let c7 = col.add_products(&[x0 * y7, x1 * y6, x2 * y5, x3 * y4, x4 * y3, x5 * y2, x6 * y1, x7 * y0]).next_word();
        let c8 = col.add_products(&[x1 * y7, x2 * y6, x3 * y5, x4 * y4, x5 * y3, x6 * y2, x7 * y1]).next_word();
        let c9 = col.add_products(&[x2 * y7, x3 * y6, x4 * y5, x5 * y4, x6 * y3, x7 * y2]).next_word();
        let c10 = col.add_products(&[x3 * y7, x4 * y6, x5 * y5, x6 * y4, x7 * y3]).next_word();
        let c11 = col.add_products(&[x4 * y7, x5 * y6, x6 * y5, x7 * y4]).next_word();
        let c12 = col.add_products(&[x5 * y7, x6 * y6, x7 * y5]).next_word();
        let c13 = col.add_products(&[x6 * y7, x7 * y6]).next_word();
        let c14 = col.add_products(&[x7 * y7]).next_word();
        reduce(&[c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, col.lo])
    }

    #[rustfmt::skip]
    fn square(&self) -> Fe {
        let [x0, x1, x2, x3, x4, x5, x6, x7] = self.0.map(u64::from);
        let mut col = Column::default();
        let c0 = col.add_products(&[x0 * x0]).next_word();
        let c1 = col.add_doubled_products(&[x0 * x1]).next_word();
        let c2 = col.add_doubled_products(&[x0 * x2]).add_products(&[x1 * x1]).next_word();
        let c3 = col.add_doubled_products(&[x0 * x3, x1 * x2]).next_word();
        let c4 = col.add_doubled_products(&[x0 * x4, x1 * x3]).add_products(&[x2 * x2]).next_word();
        let c5 = col.add_doubled_products(&[x0 * x5, x1 * x4, x2 * x3]).next_word();
        let c6 = col.add_doubled_products(&[x0 * x6, x1 * x5, x2 * x4]).add_products(&[x3 * x3]).next_word();
        let c7 = col.add_doubled_products(&[x0 * x7, x1 * x6, x2 * x5, x3 * x4]).next_word();
        let c8 = col.add_doubled_products(&[x1 * x7, x2 * x6, x3 * x5]).add_products(&[x4 * x4]).next_word();
        let c9 = col.add_doubled_products(&[x2 * x7, x3 * x6, x4 * x5]).next_word();
        let c10 = col.add_doubled_products(&[x3 * x7, x4 * x6]).add_products(&[x5 * x5]).next_word();
        let c11 = col.add_doubled_products(&[x4 * x7, x5 * x6]).next_word();
        let c12 = col.add_doubled_products(&[x5 * x7]).add_products(&[x6 * x6]).next_word();
        let c13 = col.add_doubled_products(&[x6 * x7]).next_word();
        let c14 = col.add_products(&[x7 * x7]).next_word();
        reduce(&[c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, col.lo])
    }

    /// self^(p−2) = self⁻¹ for self ≠ 0 (only in table building, not per signature).
    ///
    /// p − 2 in binary is 32 ones, 31 zeros, a one, 96 zeros, 94 ones, a zero and a one; with
    /// xₖ = self^(2ᵏ−1) built first, the chain takes 255 squarings and 12 products, where
    /// square-and-multiply over the bits takes 128 products more (6 µs per key table under V8).
    fn invert(&self) -> Fe {
        let power = |x: Fe, squarings: u32, then: &Fe| -> Fe {
            let mut acc = x;
            for _ in 0..squarings {
                acc = acc.square();
            }
            acc.mul(then)
        };
        let x1 = *self;
        let x2 = power(x1, 1, &x1);
        let x4 = power(x2, 2, &x2);
        let x8 = power(x4, 4, &x4);
        let x16 = power(x8, 8, &x8);
        let x24 = power(x16, 8, &x8);
        let x28 = power(x24, 4, &x4);
        let x30 = power(x28, 2, &x2);
        let x32 = power(x30, 2, &x2);
        let top = power(x32, 32, &x1);
        let ones = power(top, 96 + 32, &x32);
        let ones = power(ones, 32, &x32);
        let ones = power(ones, 30, &x30);
        power(ones, 2, &x1)
    }
}

/// Lane-wise f(a_i, b_i) of two elements' words.
#[inline(always)]
fn lanes(a: &Fe, b: &Fe, f: impl Fn(i64, i64) -> i64) -> [i64; 8] {
    let mut out = [0i64; 8];
    for ((o, x), y) in out.iter_mut().zip(a.0.iter()).zip(b.0.iter()) {
        *o = f(i64::from(*x), i64::from(*y));
    }
    out
}

/// A column sum of 32x32-bit products with the low and high halves kept apart, so that no
/// sum can overflow 64 bits (each half of a column of eight products stays below 2³⁶).
#[derive(Default)]
struct Column {
    lo: u64,
    hi: u64,
}

impl Column {
    #[inline(always)]
    fn add_products(&mut self, products: &[u64]) -> &mut Column {
        for p in products {
            self.lo += p & MASK;
            self.hi += p >> 32;
        }
        self
    }

    /// Products x_i·x_j with i ≠ j, which a square has twice.
    #[inline(always)]
    fn add_doubled_products(&mut self, products: &[u64]) -> &mut Column {
        let (mut lo, mut hi) = (0, 0);
        for p in products {
            lo += p & MASK;
            hi += p >> 32;
        }
        self.lo += 2 * lo;
        self.hi += 2 * hi;
        self
    }

    /// The column's word of the product; the rest carries into the next column.
    #[inline(always)]
    fn next_word(&mut self) -> u64 {
        let word = self.lo & MASK;
        self.lo = (self.lo >> 32) + self.hi;
        self.hi = 0;
        word
    }
}

/// Carries signed 32-bit lanes (each well inside ±2⁴⁰) into an element in [0, 2²⁵⁶), folding
/// the carry out of the top word back in with 2²⁵⁶ ≡ 2²²⁴ − 2¹⁹² − 2⁹⁶ + 1 (mod p).
///
/// Every lane first hands its carry to the next one at once, the top carry folding in the same
/// step. The lanes are then words unless one sat within a carry (under 2⁸) of a word's bounds,
/// which one test finds; only then does the word-by-word loop below finish. That loop alone
/// takes one pass or two depending on the data, a branch mispredicted about half the time on
/// distinct signatures: taking the common case apart made ES256 about a sixth faster under V8.
fn settle(mut w: [i64; 8]) -> Fe {
    let mut carries = [0i64; 8];
    for (carry, lane) in carries.iter_mut().zip(w.iter_mut()) {
        *carry = *lane >> 32;
        *lane &= MASK as i64;
    }
    let [c0, c1, c2, c3, c4, c5, c6, c7] = carries;
    w[0] += c7;
    w[1] += c0;
    w[2] += c1;
    w[3] += c2 - c7;
    w[4] += c3;
    w[5] += c4;
    w[6] += c5 - c7;
    w[7] += c6 + c7;
    // A lane in [0, 2³²) has no bit set above the low 32 as u64 (a negative one has them all).
    if w.iter().fold(0u64, |acc, lane| acc | *lane as u64) >> 32 == 0 {
        return Fe(w.map(|lane| lane as u32));
    }
    // Each fold shrinks the carry to at most one, and a carry of ±1 settles within two more.
    loop {
        let mut carry = 0i64;
        for lane in w.iter_mut() {
            let v = *lane + carry;
            *lane = v & MASK as i64;
            carry = v >> 32;
        }
        if carry == 0 {
            return Fe(w.map(|lane| lane as u32));
        }
        w[0] += carry;
        w[3] -= carry;
        w[6] -= carry;
        w[7] += carry;
    }
}

/// A 512-bit product (sixteen 32-bit words c0..c15) mod p, as the sum
/// T + 2S1 + 2S2 + S3 + S4 − D1 − D2 − D3 − D4 of FIPS 186-4 D.2.3, lane by lane.
fn reduce(c: &[u64; 16]) -> Fe {
    let c = c.map(|w| w as i64);
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15] = c;
    settle([
        c0 + c8 + c9 - c11 - c12 - c13 - c14,
        c1 + c9 + c10 - c12 - c13 - c14 - c15,
        c2 + c10 + c11 - c13 - c14 - c15,
        c3 + 2 * (c11 + c12) + c13 - c15 - c8 - c9,
        c4 + 2 * (c12 + c13) + c14 - c9 - c10,
        c5 + 2 * (c13 + c14) + c15 - c10 - c11,
        c6 + 3 * c14 + 2 * c15 + c13 - c8 - c9,
        c7 + 3 * c15 + c8 - c10 - c11 - c12 - c13,
    ])
}

fn words_from_be(bytes: &[u8; 32]) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (w, chunk) in words.iter_mut().zip(bytes.rchunks_exact(4)) {
        let mut b = [0u8; 4];
        b.copy_from_slice(chunk);
        *w = u32::from_be_bytes(b);
    }
    words
}

fn less_than(a: &[u32; 8], b: &[u32; 8]) -> bool {
    for (x, y) in a.iter().zip(b.iter()).rev() {
        if x != y {
            return x < y;
        }
    }
    false
}

fn is_zero_words(a: &[u32; 8]) -> bool {
    *a == [0; 8]
}

/// a − b and whether it borrowed.
fn sub_words(a: &[u32; 8], b: &[u32; 8]) -> ([u32; 8], bool) {
    let mut out = [0u32; 8];
    let mut borrow = 0u64;
    for ((o, x), y) in out.iter_mut().zip(a.iter()).zip(b.iter()) {
        let v = u64::from(*x)
            .wrapping_sub(u64::from(*y))
            .wrapping_sub(borrow);
        *o = v as u32;
        borrow = (v >> 63) & 1;
    }
    (out, borrow == 1)
}

/// a + b and whether it carried.
fn add_words(a: &[u32; 8], b: &[u32; 8]) -> ([u32; 8], bool) {
    let mut out = [0u32; 8];
    let mut carry = 0u64;
    for ((o, x), y) in out.iter_mut().zip(a.iter()).zip(b.iter()) {
        let v = u64::from(*x) + u64::from(*y) + carry;
        *o = v as u32;
        carry = v >> 32;
    }
    (out, carry == 1)
}

// ---------------------------------------------------------------------------------------------
// Scalar arithmetic mod n (per signature: one inversion and three Montgomery products).

/// −n⁻¹ mod 2³² by Newton iteration (each step doubles the correct low bits).
const fn neg_inverse_n0() -> u32 {
    let n0 = N[0];
    let mut inv: u32 = 1;
    let mut i = 0;
    while i < 5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg()
}
const N0: u64 = neg_inverse_n0() as u64;

/// a·b·2⁻²⁵⁶ mod n for a < 2²⁵⁶, b < n; the result is below n.
fn mont_mul_n(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
    let b = b.map(u64::from);
    let n = N.map(u64::from);
    let mut t = [0u64; 10];
    for &ai in a.iter() {
        let ai = u64::from(ai);
        let mut carry = 0u64;
        for (tj, bj) in t.iter_mut().zip(b.iter()) {
            let v = *tj + ai * bj + carry;
            *tj = v & MASK;
            carry = v >> 32;
        }
        let v = t[8] + carry;
        t[8] = v & MASK;
        t[9] = v >> 32;
        let m = (t[0] * N0) & MASK;
        // t + m·n is divisible by 2³²: add it and drop the low word.
        let mut carry = (t[0] + m * n[0]) >> 32;
        let mut shifted = [0u64; 10];
        for ((dst, tj), nj) in shifted
            .iter_mut()
            .zip(t.iter().skip(1))
            .zip(n.iter().skip(1))
        {
            let v = tj + m * nj + carry;
            *dst = v & MASK;
            carry = v >> 32;
        }
        let v = t[8] + carry;
        shifted[7] = v & MASK;
        shifted[8] = t[9] + (v >> 32);
        t = shifted;
    }
    let mut out = [0u32; 8];
    for (o, tj) in out.iter_mut().zip(t.iter()) {
        *o = *tj as u32;
    }
    // The result is below 2n: one subtraction brings it below n.
    if t[8] != 0 || !less_than(&out, &N) {
        out = sub_words(&out, &N).0;
    }
    out
}

/// A scalar as four 64-bit words, little-endian: wasm adds, subtracts and shifts 64-bit words
/// natively, so the inversion works on half as many words as the rest of this file.
type Wide4 = [u64; 4];

fn wide4(a: &[u32; 8]) -> Wide4 {
    let mut out = [0u64; 4];
    for (o, pair) in out.iter_mut().zip(a.chunks_exact(2)) {
        if let [lo, hi] = pair {
            *o = u64::from(*lo) | (u64::from(*hi) << 32);
        }
    }
    out
}

fn narrow4(a: &Wide4) -> [u32; 8] {
    let mut out = [0u32; 8];
    for (pair, w) in out.chunks_exact_mut(2).zip(a.iter()) {
        if let [lo, hi] = pair {
            *lo = *w as u32;
            *hi = (*w >> 32) as u32;
        }
    }
    out
}

fn less_than4(a: &Wide4, b: &Wide4) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a − b, wrapping modulo 2²⁵⁶.
fn sub4(a: &Wide4, b: &Wide4) -> Wide4 {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let (d1, b1) = x.overflowing_sub(*y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *o = d2;
        borrow = b1 || b2;
    }
    out
}

/// a + b and whether it reached 2²⁵⁶.
fn add4(a: &Wide4, b: &Wide4) -> (Wide4, bool) {
    let mut out = [0u64; 4];
    let mut carry = false;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let (s1, c1) = x.overflowing_add(*y);
        let (s2, c2) = s1.overflowing_add(u64::from(carry));
        *o = s2;
        carry = c1 || c2;
    }
    (out, carry)
}

/// a >> t for 0 < t < 64.
fn shr4(a: &Wide4, t: u32) -> Wide4 {
    let mut out = [0u64; 4];
    for (i, o) in out.iter_mut().enumerate() {
        let here = a.get(i).copied().unwrap_or(0) >> t;
        let above = a.get(i + 1).copied().unwrap_or(0) << (64 - t);
        *o = here | above;
    }
    out
}

/// a << t for 0 < t < 64, and whether any bit was shifted out.
fn shl4(a: &Wide4, t: u32) -> (Wide4, bool) {
    let mut out = [0u64; 4];
    for (i, o) in out.iter_mut().enumerate() {
        let here = a.get(i).copied().unwrap_or(0) << t;
        let below = i
            .checked_sub(1)
            .and_then(|j| a.get(j))
            .map_or(0, |w| w >> (64 - t));
        *o = here | below;
    }
    (out, a.get(3).is_some_and(|top| top >> (64 - t) != 0))
}

/// Trailing zero bits of a non-zero a, at most 63 (a longer run is taken in several steps).
fn trailing_zeros4(a: &Wide4) -> u32 {
    a.first().map_or(63, |w| w.trailing_zeros()).clamp(1, 63)
}

/// a⁻¹·2²⁵⁶ mod n (the inverse in the form [`mont_mul_n`] works in) for 0 < a < n, by
/// Kaliski's almost Montgomery inverse (variable time): only shifts, additions and subtractions,
/// with a run of zero bits shifted out in one step. It gives a⁻¹·2ᵏ mod n with
/// 256 ≤ k ≤ 512, and one product with 2⁵¹²⁻ᵏ moves that to a⁻¹·2²⁵⁶. Under V8 this costs about
/// a quarter of the binary extended Euclidean algorithm on 32-bit words that it replaced.
fn inverse_mont_n(a: &[u32; 8]) -> Option<[u32; 8]> {
    let n = wide4(&N);
    let a4 = wide4(a);
    if a4 == [0; 4] || !less_than4(&a4, &n) {
        return None;
    }
    // Invariant: n = u·s + v·r, so while v > 0 neither r nor s exceeds n.
    let (mut u, mut v, mut r, mut s) = (n, a4, [0u64; 4], [1u64, 0, 0, 0]);
    let mut k = 0u32;
    let mut r_over = false;
    while v != [0; 4] {
        if k > 512 {
            return None;
        }
        let overflow;
        if u[0] & 1 == 0 {
            let t = trailing_zeros4(&u);
            u = shr4(&u, t);
            (s, overflow) = shl4(&s, t);
            k += t;
        } else if v[0] & 1 == 0 {
            let t = trailing_zeros4(&v);
            v = shr4(&v, t);
            (r, overflow) = shl4(&r, t);
            k += t;
        } else if less_than4(&v, &u) {
            u = shr4(&sub4(&u, &v), 1);
            let (sum, carry) = add4(&r, &s);
            let doubled;
            (doubled, overflow) = shl4(&s, 1);
            (r, s) = (sum, doubled);
            if carry {
                return None;
            }
            k += 1;
        } else {
            v = shr4(&sub4(&v, &u), 1);
            let (sum, carry) = add4(&s, &r);
            let doubled;
            (doubled, r_over) = shl4(&r, 1);
            (s, r) = (sum, doubled);
            overflow = carry || (r_over && v != [0; 4]);
            k += 1;
        }
        if overflow {
            return None;
        }
    }
    // Only the last step may take r to 2n > 2²⁵⁶; r − n then fits again.
    if r_over || !less_than4(&r, &n) {
        r = sub4(&r, &n);
    }
    if r == [0; 4] || !less_than4(&r, &n) {
        return None;
    }
    let almost = narrow4(&sub4(&n, &r));
    match k {
        256 => Some(almost),
        257..=512 => {
            let mut power = [0u32; 8];
            let bit = (512 - k) as usize;
            if let Some(word) = power.get_mut(bit / 32) {
                *word = 1 << (bit % 32);
            }
            Some(mont_mul_n(&power, &almost))
        }
        _ => None,
    }
}

/// Width-w NAF digits of a 256-bit scalar, least significant first: each nonzero digit is odd
/// with |d| < 2^(w−1), and any two nonzero digits are at least w positions apart.
///
/// Most digits are zero, so each step reads the next 32 bits and jumps over the run of zeros
/// at once (trailing-zero count) instead of looking at one position at a time: about 1 µs
/// less per verification under V8.
fn naf(k: &[u32; 8], w: u32) -> [i16; NAF_LEN] {
    let bits = |pos: usize| -> u64 {
        // Bits pos .. pos+32 of k, zero above bit 255.
        let word = pos / 32;
        let shift = pos % 32;
        let lo = u64::from(k.get(word).copied().unwrap_or(0));
        let hi = u64::from(k.get(word + 1).copied().unwrap_or(0));
        ((lo | (hi << 32)) >> shift) & MASK
    };
    let mut digits = [0i16; NAF_LEN];
    let width = 1i64 << w;
    // What the digits so far leave to add at `pos`: 0, or 1 after a negative digit.
    let mut carry = 0u64;
    let mut pos = 0;
    while pos < NAF_LEN {
        let window = bits(pos);
        let x = window + carry;
        let zeros = x.trailing_zeros();
        if zeros >= 32 {
            // 32 zero digits; x is 0 or 2³², which carries on.
            pos += 32;
            carry = x >> 32;
            continue;
        }
        // Zero digits below the next odd value; the carry into it is what the skipped low
        // bits and the old carry add up to above them.
        carry = ((window & ((1 << zeros) - 1)) + carry) >> zeros;
        pos += zeros as usize;
        let x = (bits(pos) + carry) as i64 & (width - 1);
        let d = if x < width / 2 { x } else { x - width };
        if let Some(slot) = digits.get_mut(pos) {
            *slot = d as i16;
        }
        carry = u64::from(d < 0);
        pos += w as usize;
    }
    digits
}

// ---------------------------------------------------------------------------------------------
// Points.

#[derive(Clone, Copy, Debug)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// (X, Y, Z) stands for (X/Z², Y/Z³); the point at infinity is the flag, not Z = 0.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
    infinity: bool,
}

impl Affine {
    fn on_curve(&self) -> bool {
        // y² = x³ − 3x + b
        let rhs = self
            .x
            .square()
            .mul(&self.x)
            .sub(&self.x.scaled_sub(3, &Fe::ZERO, 0));
        self.y.square().equals(&rhs.add(&B))
    }

    fn to_jacobian(self) -> Jacobian {
        Jacobian {
            x: self.x,
            y: self.y,
            z: Fe::ONE,
            infinity: false,
        }
    }

    fn negated(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
        infinity: true,
    };

    /// dbl-2001-b (a = −3): 3M + 5S.
    fn double(&self) -> Jacobian {
        if self.infinity {
            return *self;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let alpha = self.x.scaled_sub(3, &delta, 3).mul(&self.x.add(&delta));
        let x3 = alpha.square().scaled_sub(1, &beta, 8);
        let z3 = self.y.add(&self.z).square().sub_two(&gamma, &delta, 1);
        let y3 = alpha
            .mul(&beta.scaled_sub(4, &x3, 1))
            .scaled_sub(1, &gamma.square(), 8);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            // P-256 has no point of order two, so Y ≠ 0 and the double is finite.
            infinity: false,
        }
    }

    /// self + q for affine q: madd-2007-bl, 7M + 4S, with the equal and opposite cases.
    fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.infinity {
            return q.to_jacobian();
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.scaled_sub(2, &self.y, 2);
        if h.is_zero() {
            return if r.is_zero() {
                q.to_jacobian().double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = h.square();
        let i = hh.scaled_sub(4, &Fe::ZERO, 0);
        let j = h.mul(&i);
        let v = self.x.mul(&i);
        let x3 = r.square().sub_two(&j, &v, 2);
        let y3 = r.mul(&v.sub(&x3)).scaled_sub(1, &self.y.mul(&j), 2);
        let z3 = self.z.add(&h).square().sub_two(&z1z1, &hh, 1);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// self + q: add-2007-bl, 11M + 5S (table building only).
    fn add(&self, q: &Jacobian) -> Jacobian {
        if self.infinity {
            return *q;
        }
        if q.infinity {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.z).mul(&z2z2);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.scaled_sub(2, &s1, 2);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let i = h.scaled_sub(2, &Fe::ZERO, 0).square();
        let j = h.mul(&i);
        let v = u1.mul(&i);
        let x3 = r.square().sub_two(&j, &v, 2);
        let y3 = r.mul(&v.sub(&x3)).scaled_sub(1, &s1.mul(&j), 2);
        let z3 = self.z.add(&q.z).square().sub_two(&z1z1, &z2z2, 1).mul(&h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }
}

/// Affine forms of finite points with one field inversion (Montgomery's trick); `None` if any
/// point is at infinity.
fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
    if points.iter().any(|p| p.infinity || p.z.is_zero()) {
        return None;
    }
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        prefix.push(acc);
        acc = acc.mul(&p.z);
    }
    let mut inv = acc.invert();
    let mut out = vec![
        Affine {
            x: Fe::ZERO,
            y: Fe::ZERO
        };
        points.len()
    ];
    for ((p, before), slot) in points.iter().zip(prefix.iter()).zip(out.iter_mut()).rev() {
        let zinv = inv.mul(before);
        inv = inv.mul(&p.z);
        let zinv2 = zinv.square();
        *slot = Affine {
            x: p.x.mul(&zinv2),
            y: p.y.mul(&zinv2.mul(&zinv)),
        };
    }
    Some(out)
}

/// Odd multiples 1·B, 3·B, …, (2·count − 1)·B of each span base B = 2^(SPAN·j)·P, affine,
/// span after span.
fn odd_multiples_table(p: &Affine, count: usize) -> Option<Vec<Affine>> {
    let mut points = Vec::with_capacity(SPANS * count);
    let mut base = p.to_jacobian();
    for span in 0..SPANS {
        if span > 0 {
            for _ in 0..SPAN {
                base = base.double();
            }
        }
        let twice = base.double();
        let mut multiple = base;
        for _ in 0..count {
            points.push(multiple);
            multiple = multiple.add(&twice);
        }
    }
    batch_to_affine(&points)
}

fn g_table() -> &'static [Affine] {
    static TABLE: OnceLock<Vec<Affine>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // G is a fixed point of prime order, so no multiple in the table is at infinity; an
        // empty table would make every verification fail rather than panic.
        odd_multiples_table(&Affine { x: GX, y: GY }, G_ODD).unwrap_or_default()
    })
}

/// Adds the NAF digit's multiple from a span's odd-multiples table (negated for a negative
/// digit). `false` if the table lacks the entry (only when a table could not be built).
fn add_digit(acc: &mut Jacobian, table: &[Affine], span: usize, count: usize, d: i16) -> bool {
    if d == 0 {
        return true;
    }
    let index = span * count + usize::from(d.unsigned_abs() / 2);
    match table.get(index) {
        Some(point) if d > 0 => *acc = acc.add_affine(point),
        Some(point) => *acc = acc.add_affine(&point.negated()),
        None => return false,
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Keys and signatures.

/// Whether r and s of a raw r || s signature both lie in [1, n − 1]. A signature outside that
/// range cannot verify under any key, which callers may want to report apart from a mismatch.
pub fn scalars_in_range(signature: &[u8; 64]) -> bool {
    scalars(signature).is_some()
}

/// r and s as words, if both lie in [1, n − 1].
fn scalars(signature: &[u8; 64]) -> Option<([u32; 8], [u32; 8])> {
    let mut r_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    let (r_half, s_half) = signature.split_at(32);
    r_bytes.copy_from_slice(r_half);
    s_bytes.copy_from_slice(s_half);
    let r = words_from_be(&r_bytes);
    let s = words_from_be(&s_bytes);
    let in_range = |k: &[u32; 8]| !is_zero_words(k) && less_than(k, &N);
    (in_range(&r) && in_range(&s)).then_some((r, s))
}

/// A validated P-256 public key with its per-key tables, for verifying many signatures.
#[derive(Clone, Debug)]
pub struct PreparedKey {
    /// Odd multiples of 2^(SPAN·j)·Q, span after span.
    table: Vec<Affine>,
}

impl PreparedKey {
    /// From the big-endian affine coordinates (a JWK's `x` and `y`). `None` unless both are
    /// below p and the point is on the curve (an affine point is never the point at infinity).
    pub fn new(x: &[u8; 32], y: &[u8; 32]) -> Option<PreparedKey> {
        let q = Affine {
            x: Fe::from_bytes(x)?,
            y: Fe::from_bytes(y)?,
        };
        if !q.on_curve() {
            return None;
        }
        Some(PreparedKey {
            table: odd_multiples_table(&q, Q_ODD)?,
        })
    }

    /// ES256: SHA-256 of `message`, then [`PreparedKey::verify_prehashed`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&Sha256::digest(message));
        self.verify_prehashed(&hash, signature)
    }

    /// ECDSA verification of the raw r || s signature over a SHA-256 hash. High-S signatures
    /// are accepted, as JOSE does not forbid them.
    pub fn verify_prehashed(&self, hash: &[u8; 32], signature: &[u8; 64]) -> bool {
        let Some((r, s)) = scalars(signature) else {
            return false;
        };
        // The hash is as long as n, so no bits are dropped; it is below 2²⁵⁶ < 2n.
        let mut e = words_from_be(hash);
        if !less_than(&e, &N) {
            e = sub_words(&e, &N).0;
        }
        let Some(w_mont) = inverse_mont_n(&s) else {
            return false;
        };
        let u1 = mont_mul_n(&e, &w_mont);
        let u2 = mont_mul_n(&r, &w_mont);

        let Some(point) = self.double_mul(&u1, &u2) else {
            return false;
        };
        if point.infinity || point.z.is_zero() {
            return false;
        }
        // x(R) mod n = r, with x(R) = X/Z² in [0, p): x(R) is r or, if r + n < p, r + n.
        let z2 = point.z.square();
        if point.x.equals(&Fe(r).mul(&z2)) {
            return true;
        }
        let (r_plus_n, carry) = add_words(&r, &N);
        !carry && less_than(&r_plus_n, &P) && point.x.equals(&Fe(r_plus_n).mul(&z2))
    }

    /// u1·G + u2·Q in one pass over the spans' digits.
    fn double_mul(&self, u1: &[u32; 8], u2: &[u32; 8]) -> Option<Jacobian> {
        let naf1 = naf(u1, G_WINDOW);
        let naf2 = naf(u2, Q_WINDOW);
        let g = g_table();
        let mut acc = Jacobian::INFINITY;
        // Digit position SPAN·j + t; the top span alone has a digit at t = SPAN (position 256).
        for t in (0..=SPAN).rev() {
            acc = acc.double();
            for span in 0..SPANS {
                if t == SPAN && span + 1 < SPANS {
                    continue;
                }
                let pos = SPAN * span + t;
                let d1 = naf1.get(pos).copied().unwrap_or(0);
                let d2 = naf2.get(pos).copied().unwrap_or(0);
                if !add_digit(&mut acc, g, span, G_ODD, d1)
                    || !add_digit(&mut acc, &self.table, span, Q_ODD, d2)
                {
                    return None;
                }
            }
        }
        Some(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64 hex digits as 32 big-endian bytes.
    fn unhex32(s: &str) -> [u8; 32] {
        assert_eq!(s.len(), 64, "{s}");
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn fe_from_hex(s: &str) -> Fe {
        Fe(words_from_be(&unhex32(s)))
    }

    /// Random-looking words from a fixed xorshift sequence.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn words(&mut self) -> [u32; 8] {
            [0; 8].map(|_| self.next() as u32)
        }
        fn bytes32(&mut self) -> [u8; 32] {
            [0; 32].map(|_| self.next() as u8)
        }
    }

    /// Slow reference: (a·b) mod p by shift-and-subtract on 9-word integers.
    fn reference_mul(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
        let mut acc = [0u32; 8];
        for word in b.iter().rev() {
            for bit in (0..32).rev() {
                acc = reference_add(&acc, &acc);
                if (word >> bit) & 1 == 1 {
                    acc = reference_add(&acc, a);
                }
            }
        }
        acc
    }

    fn reference_reduce(a: &[u32; 8]) -> [u32; 8] {
        let mut x = *a;
        while !less_than(&x, &P) {
            x = sub_words(&x, &P).0;
        }
        x
    }

    fn reference_add(a: &[u32; 8], b: &[u32; 8]) -> [u32; 8] {
        let a = reference_reduce(a);
        let b = reference_reduce(b);
        let (sum, carry) = add_words(&a, &b);
        if carry || !less_than(&sum, &P) {
            sub_words(&sum, &P).0
        } else {
            sum
        }
    }

    fn edge_values() -> Vec<[u32; 8]> {
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        vec![
            [0; 8],
            [1, 0, 0, 0, 0, 0, 0, 0],
            P,
            p_minus_1,
            [u32::MAX; 8],
            {
                let mut p_plus_1 = P;
                p_plus_1[0] = 0;
                p_plus_1[1] = 0;
                p_plus_1[2] = 0;
                p_plus_1[3] = 1;
                p_plus_1
            },
        ]
    }

    #[test]
    fn field_products_match_the_reference() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut values = edge_values();
        for _ in 0..200 {
            values.push(rng.words());
        }
        for a in &values {
            for b in values.iter().take(40) {
                let want = reference_mul(a, b);
                assert_eq!(Fe(*a).mul(&Fe(*b)).canonical(), want, "{a:x?} * {b:x?}");
                assert_eq!(Fe(*b).mul(&Fe(*a)).canonical(), want);
            }
            assert_eq!(Fe(*a).square().canonical(), reference_mul(a, a), "{a:x?}^2");
        }
    }

    #[test]
    fn field_sums_and_differences_match_the_reference() {
        let mut rng = Rng(0x0fed_cba9_8765_4321);
        let mut values = edge_values();
        for _ in 0..100 {
            values.push(rng.words());
        }
        for a in &values {
            for b in &values {
                assert_eq!(Fe(*a).add(&Fe(*b)).canonical(), reference_add(a, b));
                let back = Fe(*a).sub(&Fe(*b)).add(&Fe(*b)).canonical();
                assert_eq!(back, reference_reduce(a));
                let scaled = Fe(*a).scaled_sub(4, &Fe(*b), 8);
                let want = reference_add(&reference_mul(a, &[4, 0, 0, 0, 0, 0, 0, 0]), &{
                    let m = reference_mul(b, &[8, 0, 0, 0, 0, 0, 0, 0]);
                    Fe(m).neg().canonical()
                });
                assert_eq!(scaled.canonical(), want);
            }
        }
    }

    #[test]
    fn settling_lanes_at_a_words_bounds_takes_the_word_by_word_path() {
        let one = [1, 0, 0, 0, 0, 0, 0, 0];
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        // −1: the borrow runs through every word, then folds.
        assert_eq!(settle([-1, 0, 0, 0, 0, 0, 0, 0]).canonical(), p_minus_1);
        // 2²⁵⁶ as a carry out of the top lane: the fold leaves lanes 3 and 6 negative.
        let top = settle([0, 0, 0, 0, 0, 0, 0, 1 << 32]).canonical();
        assert_eq!(top, reference_add(&[u32::MAX; 8], &one));
        // Every lane one above a word: carries land on lanes already at their maximum.
        let full = (1i64 << 32) - 1;
        let lanes = [full + 1, full, full, full, full, full, full, full];
        assert_eq!(
            settle(lanes).canonical(),
            reference_add(&[u32::MAX; 8], &one)
        );
        // Lanes far inside ±2⁴⁰ in both directions: the common case, by the reference.
        let mut rng = Rng(5);
        for _ in 0..1000 {
            let words = rng.words();
            let lanes = words.map(|w| i64::from(w) * 37 - (1i64 << 36));
            let value = lanes.iter().rev().fold([0u32; 8], |acc, lane| {
                let shifted = reference_mul(&acc, &[0, 1, 0, 0, 0, 0, 0, 0]);
                let magnitude = lane.unsigned_abs();
                let m = [magnitude as u32, (magnitude >> 32) as u32, 0, 0, 0, 0, 0, 0];
                if *lane < 0 {
                    reference_add(&shifted, &sub_words(&P, &reference_reduce(&m)).0)
                } else {
                    reference_add(&shifted, &m)
                }
            });
            assert_eq!(settle(lanes).canonical(), value, "{lanes:x?}");
        }
    }

    #[test]
    fn field_inverse_times_value_is_one() {
        let mut rng = Rng(99);
        for _ in 0..20 {
            let a = Fe(rng.words());
            assert_eq!(a.mul(&a.invert()).canonical(), Fe::ONE.0);
        }
    }

    #[test]
    fn scalar_inverse_and_products_are_right() {
        let mut rng = Rng(7);
        let one = [1, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..200 {
            let mut a = rng.words();
            while !less_than(&a, &N) || is_zero_words(&a) {
                a = rng.words();
            }
            // a · a⁻¹R · R⁻¹ = 1
            assert_eq!(mont_mul_n(&a, &inverse_mont_n(&a).unwrap()), one);
        }
        let mut n_minus_1 = N;
        n_minus_1[0] -= 1;
        let two = [2, 0, 0, 0, 0, 0, 0, 0];
        let top = [0, 0, 0, 0, 0, 0, 0, 0x8000_0000];
        for a in [
            one,
            two,
            n_minus_1,
            top,
            [0xffff_ffff; 8].map(|w| w & 0x7fff_ffff),
        ] {
            let inverse = inverse_mont_n(&a).unwrap();
            assert!(less_than(&inverse, &N), "{a:x?}");
            assert_eq!(mont_mul_n(&a, &inverse), one, "{a:x?}");
        }
        // (n − 1)⁻¹ = n − 1; in Montgomery form, back out with a product by 1.
        assert_eq!(
            mont_mul_n(&inverse_mont_n(&n_minus_1).unwrap(), &one),
            n_minus_1
        );
        assert_eq!(inverse_mont_n(&[0; 8]), None);
        assert_eq!(inverse_mont_n(&N), None);
    }

    #[test]
    fn naf_digits_rebuild_the_scalar() {
        let mut rng = Rng(3);
        let mut scalars = vec![[0u32; 8], [u32::MAX; 8], N, [1, 0, 0, 0, 0, 0, 0, 0]];
        for _ in 0..500 {
            scalars.push(rng.words());
        }
        for k in &scalars {
            for w in Q_WINDOW..=G_WINDOW {
                let digits = naf(k, w);
                // Σ d_i·2^i computed as a 9-word signed sum, checked against k.
                let mut sum = [0i64; 10];
                for (i, &d) in digits.iter().enumerate() {
                    assert!(d == 0 || (d % 2 != 0 && i32::from(d).abs() < 1 << (w - 1)));
                    sum[i / 32] += i64::from(d) << (i % 32);
                }
                let mut carry = 0i64;
                for lane in sum.iter_mut() {
                    let v = *lane + carry;
                    *lane = v & MASK as i64;
                    carry = v >> 32;
                }
                assert_eq!(carry, 0);
                let got: Vec<u32> = sum.iter().map(|&x| x as u32).collect();
                let mut want = k.to_vec();
                want.extend([0, 0]);
                assert_eq!(got, want, "k={k:x?} w={w}");
                let nonzero: Vec<usize> = (0..NAF_LEN).filter(|&i| digits[i] != 0).collect();
                for pair in nonzero.windows(2) {
                    assert!(pair[1] - pair[0] >= w as usize);
                }
            }
        }
    }

    #[test]
    fn generator_is_on_the_curve_and_n_times_g_is_infinity() {
        let g = Affine { x: GX, y: GY };
        assert!(g.on_curve());
        let table = g_table();
        assert_eq!(table.len(), SPANS * G_ODD);
        assert!(table.iter().all(Affine::on_curve));
        // (n−1)·G = −G via the generic double-and-add.
        let mut acc = Jacobian::INFINITY;
        let mut n_minus_1 = N;
        n_minus_1[0] -= 1;
        for word in n_minus_1.iter().rev() {
            for bit in (0..32).rev() {
                acc = acc.double();
                if (word >> bit) & 1 == 1 {
                    acc = acc.add_affine(&g);
                }
            }
        }
        let affine = batch_to_affine(&[acc]).unwrap();
        assert_eq!(affine[0].x.canonical(), GX.0);
        assert_eq!(affine[0].y.canonical(), GY.neg().canonical());
        assert!(acc.add_affine(&g).infinity);
    }

    #[test]
    fn keys_off_the_curve_or_out_of_range_are_refused() {
        let gx: [u8; 32] =
            unhex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
        let gy: [u8; 32] =
            unhex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
        assert!(PreparedKey::new(&gx, &gy).is_some());
        let mut bad_y = gy;
        bad_y[31] ^= 1;
        assert!(PreparedKey::new(&gx, &bad_y).is_none());
        assert!(PreparedKey::new(&[0; 32], &[0; 32]).is_none());
        // y + p is the same residue as y but not a canonical coordinate.
        let p_bytes: [u8; 32] =
            unhex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
        assert!(PreparedKey::new(&gx, &p_bytes).is_none());
        assert!(PreparedKey::new(&p_bytes, &gy).is_none());
        assert_eq!(
            fe_from_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").0,
            P
        );
    }

    fn signing_key(rng: &mut Rng) -> p256::ecdsa::SigningKey {
        loop {
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&rng.bytes32()) {
                return k;
            }
        }
    }

    fn prepared(key: &p256::ecdsa::VerifyingKey) -> PreparedKey {
        let point = key.to_sec1_point(false);
        let bytes = point.as_bytes();
        let x: [u8; 32] = bytes[1..33].try_into().unwrap();
        let y: [u8; 32] = bytes[33..65].try_into().unwrap();
        PreparedKey::new(&x, &y).unwrap()
    }

    #[test]
    fn random_signatures_and_bit_flips_agree_with_the_p256_crate() {
        use p256::ecdsa::signature::{Signer, Verifier};
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        // Unoptimised test builds verify about 40x slower; `cargo test --release` runs all 3000.
        let (keys, messages) = if cfg!(debug_assertions) {
            (16, 10)
        } else {
            (120, 25)
        };
        let mut accepted = 0;
        for _ in 0..keys {
            let sk = signing_key(&mut rng);
            let vk = *sk.verifying_key();
            let key = prepared(&vk);
            for _ in 0..messages {
                let len = (rng.next() % 200) as usize;
                let msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let sig: p256::ecdsa::Signature = sk.sign(&msg);
                let mut bytes: [u8; 64] = sig.to_bytes().into();
                assert!(key.verify(&msg, &bytes));
                accepted += 1;
                // The high-S twin (n − s) is just as valid for JOSE.
                let s = words_from_be(&bytes[32..].try_into().unwrap());
                let high = sub_words(&N, &s).0;
                let mut twin = bytes;
                for (chunk, w) in twin[32..].rchunks_exact_mut(4).zip(high.iter()) {
                    chunk.copy_from_slice(&w.to_be_bytes());
                }
                assert!(key.verify(&msg, &twin));
                // Flipped bits in the signature or the message.
                let bit = (rng.next() % 512) as usize;
                bytes[bit / 8] ^= 1 << (bit % 8);
                let theirs = p256::ecdsa::Signature::from_slice(&bytes)
                    .map(|s| vk.verify(&msg, &s).is_ok())
                    .unwrap_or(false);
                assert_eq!(key.verify(&msg, &bytes), theirs);
                assert!(!key.verify(&msg, &bytes));
                if !msg.is_empty() {
                    bytes[bit / 8] ^= 1 << (bit % 8);
                    let mut other = msg.clone();
                    let i = (rng.next() as usize) % other.len();
                    other[i] ^= 1 << (rng.next() % 8);
                    assert!(!key.verify(&other, &bytes));
                }
            }
        }
        assert_eq!(accepted, keys * messages);
    }

    #[test]
    fn signatures_of_the_wrong_shape_are_refused() {
        let mut rng = Rng(5);
        let sk = signing_key(&mut rng);
        let key = prepared(sk.verifying_key());
        use p256::ecdsa::signature::Signer;
        let sig: p256::ecdsa::Signature = sk.sign(b"m");
        let bytes: [u8; 64] = sig.to_bytes().into();
        assert!(key.verify(b"m", &bytes));
        assert!(!key.verify(b"m", &bytes[..63]));
        assert!(!key.verify(b"m", &[bytes.as_slice(), &[0]].concat()));
        assert!(!key.verify(b"m", &[0; 64]));
        let mut r_is_n = bytes;
        r_is_n[..32].copy_from_slice(&unhex32(
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        ));
        assert!(!key.verify(b"m", &r_is_n));
        let mut s_zero = bytes;
        s_zero[32..].fill(0);
        assert!(!key.verify(b"m", &s_zero));
    }

    #[test]
    fn arbitrary_signatures_never_panic_and_are_refused() {
        let mut rng = Rng(11);
        let sk = signing_key(&mut rng);
        let key = prepared(sk.verifying_key());
        for _ in 0..300 {
            let mut sig = [0u8; 64];
            for b in sig.iter_mut() {
                *b = rng.next() as u8;
            }
            if rng.next().is_multiple_of(2) {
                sig[..4].fill(0xff);
            }
            assert!(!key.verify_prehashed(&rng.bytes32(), &sig));
        }
    }
}
