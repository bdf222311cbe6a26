//! RSA signature verification with public keys (RFC 8017 RSASSA-PKCS1-v1_5 and RSASSA-PSS),
//! as JOSE uses them: RS256/384/512 and PS256/384/512 with the salt as long as the hash
//! (RFC 7518 §3.3, §3.5).
//!
//! The modular exponentiation uses Montgomery multiplication on 32-bit limbs with 64-bit
//! products: wasm32 multiplies 64x64→64 natively but has no 128-bit product, so wider limbs
//! cost more there than they save (measured: 64-bit limbs are about 1.6x slower under V8, though
//! 3x faster natively). Products are summed column by column (product scanning) with carries
//! deferred to the end of each column; a wasm build with `simd128` sums four products per step.
//! The per-key constants (−n⁻¹ mod 2³² and R² mod n) are computed once in
//! [`RsaPublicKey::new`] and kept with the key, so a verification is only the exponentiation
//! (18 Montgomery products for e = 65537, 16 of them squarings) and the encoding check.
//!
//! Which keys are acceptable is decided by the parent module; the checks in
//! [`RsaPublicKey::new`] are the ones the arithmetic itself relies on.
//!
//! Nothing here needs to be constant-time: the key, the message and the signature are public.

use sha2::{Digest, Sha256, Sha384, Sha512};
use std::ops::RangeInclusive;

use super::{RSA_MAX_BITS, RSA_MAX_EXPONENT, RSA_MIN_BITS};

type Limb = u32;
type Wide = u64;
const LIMB_BITS: u32 = Limb::BITS;
const LIMB_BYTES: usize = (Limb::BITS / 8) as usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    fn len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// DER of the DigestInfo that precedes the hash in a PKCS#1 v1.5 encoding (RFC 8017 §9.2).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    fn hash(self, parts: &[&[u8]]) -> HashOutput {
        fn run<D: Digest>(parts: &[&[u8]], out: &mut HashOutput) {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            let digest = hasher.finalize();
            for (o, d) in out.bytes.iter_mut().zip(digest.iter()) {
                *o = *d;
            }
        }
        let mut out = HashOutput {
            bytes: [0; 64],
            len: self.len(),
        };
        match self {
            HashAlg::Sha256 => run::<Sha256>(parts, &mut out),
            HashAlg::Sha384 => run::<Sha384>(parts, &mut out),
            HashAlg::Sha512 => run::<Sha512>(parts, &mut out),
        }
        out
    }
}

/// A digest on the stack, so that hashing allocates nothing.
struct HashOutput {
    bytes: [u8; 64],
    len: usize,
}

impl HashOutput {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// The signature scheme, which fixes the hash; PSS salts are as long as the hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Pkcs1v15(HashAlg),
    Pss(HashAlg),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    ModulusTooSmall { bits: usize },
    ModulusTooLarge { bits: usize },
    ModulusEven,
    ExponentTooSmall,
    ExponentTooLarge,
    ExponentEven,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The signature is not exactly as long as the modulus (RFC 8017 §8.2.2 step 1).
    WrongLength { expected: usize, actual: usize },
    /// The signature as an integer is not below the modulus (RFC 8017 §5.2.2 step 1).
    NotBelowModulus,
    /// The recovered message is not the encoding of this message's hash.
    Mismatch,
}

/// An RSA public key prepared for verification.
#[derive(Clone, Debug)]
pub struct RsaPublicKey {
    /// Little-endian limbs; the top limb is non-zero.
    n: Vec<Limb>,
    /// −n⁻¹ mod 2^LIMB_BITS.
    n0: Limb,
    /// R² mod n with R = 2^(LIMB_BITS · n.len()): moves a value into Montgomery form.
    rr: Vec<Limb>,
    e: u64,
    bits: usize,
    /// Modulus length in bytes, which every signature must have.
    len: usize,
}

impl RsaPublicKey {
    /// Prepares a key from the big-endian modulus (leading zero bytes are ignored) and the
    /// exponent.
    pub fn new(n: &[u8], e: u64) -> Result<RsaPublicKey, KeyError> {
        let n = strip_leading_zeros(n);
        let bits = match n.first() {
            Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
            None => 0,
        };
        if bits < RSA_MIN_BITS {
            return Err(KeyError::ModulusTooSmall { bits });
        }
        if bits > RSA_MAX_BITS {
            return Err(KeyError::ModulusTooLarge { bits });
        }
        // Montgomery reduction needs an odd modulus.
        if n.last().is_some_and(|b| b & 1 == 0) {
            return Err(KeyError::ModulusEven);
        }
        // The exponentiation starts from the top bit of e − 1, which must exist.
        if e < 3 {
            return Err(KeyError::ExponentTooSmall);
        }
        if e > RSA_MAX_EXPONENT {
            return Err(KeyError::ExponentTooLarge);
        }
        if e & 1 == 0 {
            return Err(KeyError::ExponentEven);
        }

        let len = n.len();
        let limbs = len.div_ceil(LIMB_BYTES);
        let n = limbs_from_be(n, limbs);
        let n0 = neg_inverse(n.first().copied().unwrap_or(1));
        let rr = r_squared(&n, n0, bits);
        Ok(RsaPublicKey {
            n,
            n0,
            rr,
            e,
            bits,
            len,
        })
    }

    /// The modulus length in bytes: the length of every signature.
    pub fn modulus_len(&self) -> usize {
        self.len
    }

    /// Checks `signature` over `message` (the message itself, not its hash).
    pub fn verify(
        &self,
        scheme: Scheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if signature.len() != self.len {
            return Err(SignatureError::WrongLength {
                expected: self.len,
                actual: signature.len(),
            });
        }
        let s = limbs_from_be(signature, self.n.len());
        if !less_than(&s, &self.n) {
            return Err(SignatureError::NotBelowModulus);
        }
        let m = self.public_op(&s);
        let em = be_from_limbs(&m, self.len);
        match scheme {
            Scheme::Pkcs1v15(hash) => check_pkcs1v15(&em, hash, message),
            Scheme::Pss(hash) => check_pss(&em, self.bits, hash, message),
        }
    }

    /// s^e mod n for s < n.
    fn public_op(&self, s: &[Limb]) -> Vec<Limb> {
        let k = self.n.len();
        let mut scratch = vec![0; k];
        let mut base = vec![0; k];
        mont_mul(&mut base, s, &self.rr, &self.n, self.n0, &mut scratch);
        // s^(e−1) in Montgomery form, then one product with the plain s gives s^e and leaves
        // the Montgomery domain in the same step. e − 1 ≥ 2, so its top bit is bit 1 or higher.
        let exp = self.e - 1;
        let top = 63 - exp.leading_zeros();
        let mut acc = base.clone();
        let mut tmp = vec![0; k];
        for bit in (0..top).rev() {
            mont_sqr(&mut tmp, &acc, &self.n, self.n0, &mut scratch);
            if (exp >> bit) & 1 == 1 {
                mont_mul(&mut acc, &tmp, &base, &self.n, self.n0, &mut scratch);
            } else {
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        mont_mul(&mut tmp, &acc, s, &self.n, self.n0, &mut scratch);
        tmp
    }
}

/// RFC 8017 §9.2: rebuild the one valid encoding and compare, rather than parse what came in.
fn check_pkcs1v15(em: &[u8], hash: HashAlg, message: &[u8]) -> Result<(), SignatureError> {
    let digest = hash.hash(&[message]);
    let prefix = hash.digest_info_prefix();
    let t_len = prefix.len() + digest.len;
    let ps_len = match em.len().checked_sub(3 + t_len) {
        Some(l) if l >= 8 => l,
        _ => return Err(SignatureError::Mismatch),
    };
    let rest = em
        .strip_prefix(&[0x00, 0x01])
        .ok_or(SignatureError::Mismatch)?;
    let (ps, rest) = rest
        .split_at_checked(ps_len)
        .ok_or(SignatureError::Mismatch)?;
    if !ps.iter().all(|&b| b == 0xff) {
        return Err(SignatureError::Mismatch);
    }
    let rest = rest.strip_prefix(&[0x00]).ok_or(SignatureError::Mismatch)?;
    let rest = rest.strip_prefix(prefix).ok_or(SignatureError::Mismatch)?;
    if rest != digest.as_slice() {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

/// RFC 8017 §9.1.2 with emBits = modBits − 1 and sLen = hLen.
fn check_pss(
    em_full: &[u8],
    mod_bits: usize,
    hash: HashAlg,
    message: &[u8],
) -> Result<(), SignatureError> {
    let em_bits = mod_bits.saturating_sub(1);
    let em_len = em_bits.div_ceil(8);
    // I2OSP(m, emLen) fails when m needs more octets than emLen (RFC 8017 §8.1.2 step 2c).
    let em = match em_full.len().checked_sub(em_len) {
        Some(0) => em_full,
        Some(1) => match em_full.split_first() {
            Some((0, rest)) => rest,
            _ => return Err(SignatureError::Mismatch),
        },
        _ => return Err(SignatureError::Mismatch),
    };
    let h_len = hash.len();
    let s_len = h_len;
    if em_len < h_len + s_len + 2 {
        return Err(SignatureError::Mismatch);
    }
    let body = match em.split_last() {
        Some((0xbc, body)) => body,
        _ => return Err(SignatureError::Mismatch),
    };
    let (masked_db, h) = body
        .split_at_checked(em_len - h_len - 1)
        .ok_or(SignatureError::Mismatch)?;
    // The top 8·emLen − emBits bits of the encoding are zero.
    let top_mask: u8 = 0xff >> (8 * em_len - em_bits);
    if masked_db.first().is_some_and(|&b| b & !top_mask != 0) {
        return Err(SignatureError::Mismatch);
    }
    let mut db = masked_db.to_vec();
    mgf1_xor(hash, h, &mut db);
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    let ps_len = em_len - h_len - s_len - 2;
    let (ps, rest) = db
        .split_at_checked(ps_len)
        .ok_or(SignatureError::Mismatch)?;
    if !ps.iter().all(|&b| b == 0) {
        return Err(SignatureError::Mismatch);
    }
    let salt = match rest.split_first() {
        Some((0x01, salt)) => salt,
        _ => return Err(SignatureError::Mismatch),
    };
    let m_hash = hash.hash(&[message]);
    let expected = hash.hash(&[&[0u8; 8], m_hash.as_slice(), salt]);
    if expected.as_slice() != h {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

/// XORs MGF1(seed) (RFC 8017 §B.2.1) into `out`.
fn mgf1_xor(hash: HashAlg, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(hash.len())) {
        let block = hash.hash(&[seed, &counter.to_be_bytes()]);
        for (o, m) in chunk.iter_mut().zip(block.as_slice()) {
            *o ^= m;
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Big-endian bytes to `count` little-endian limbs; bytes beyond `count` limbs are ignored.
fn limbs_from_be(bytes: &[u8], count: usize) -> Vec<Limb> {
    let mut limbs: Vec<Limb> = bytes
        .rchunks(LIMB_BYTES)
        .take(count)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0, |acc: Limb, &b| (acc << 8) | Limb::from(b))
        })
        .collect();
    limbs.resize(count, 0);
    limbs
}

fn be_from_limbs(limbs: &[Limb], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        let limb = limbs.get(i / LIMB_BYTES).copied().unwrap_or(0);
        *byte = (limb >> (8 * (i % LIMB_BYTES))) as u8;
    }
    out
}

/// −x⁻¹ mod 2^LIMB_BITS for odd x, by Newton's iteration (each step doubles the correct bits;
/// x is its own inverse modulo 8, so five steps cover 96 bits).
fn neg_inverse(x: Limb) -> Limb {
    let mut inv = x;
    for _ in 0..5 {
        inv = inv.wrapping_mul((2 as Limb).wrapping_sub(x.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

fn less_than(a: &[Limb], b: &[Limb]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a −= b, returning the borrow.
fn sub_in_place(a: &mut [Limb], b: &[Limb]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(Limb::from(borrow));
        *x = d2;
        borrow = b1 || b2;
    }
    borrow
}

/// R² mod n. Start from 2^(bits−1) < n and double (reducing) up to 2^(rbits + h) mod n, the
/// Montgomery form of 2^h, where rbits = h·2^j; j Montgomery squarings then give the Montgomery
/// form of 2^rbits = R, which is R² mod n.
fn r_squared(n: &[Limb], n0: Limb, bits: usize) -> Vec<Limb> {
    let k = n.len();
    let rbits = k * LIMB_BITS as usize;
    let j = rbits.trailing_zeros();
    let h = rbits >> j;
    let mut x = vec![0 as Limb; k];
    if let Some(limb) = x.get_mut((bits - 1) / LIMB_BITS as usize) {
        *limb = 1 << ((bits - 1) % LIMB_BITS as usize);
    }
    for _ in 0..(rbits + h + 1 - bits) {
        let mut carry = 0;
        for limb in x.iter_mut() {
            let next = (*limb << 1) | carry;
            carry = *limb >> (LIMB_BITS - 1);
            *limb = next;
        }
        if carry != 0 || !less_than(&x, n) {
            sub_in_place(&mut x, n);
        }
    }
    let mut scratch = vec![0; k];
    let mut tmp = vec![0; k];
    for _ in 0..j {
        mont_sqr(&mut tmp, &x, n, n0, &mut scratch);
        std::mem::swap(&mut x, &mut tmp);
    }
    x
}

/// Column sums for product scanning. A product is split into its low and high limb, each added
/// to its own accumulator: no carry is propagated inside a column, which keeps the inner loops
/// free of long dependency chains. A column has at most 2·8192/32 terms below 2^32, so 64 bits
/// hold the sums.
#[derive(Clone, Copy, Default)]
struct Column {
    lo: Wide,
    hi: Wide,
}

impl Column {
    /// Adds Σ x[j]·y[len−1−j] one product at a time. Up to three terms (what is left after
    /// wasm SIMD took fours) are written out: LLVM turns a loop into 64-bit lane products,
    /// which V8 builds from three 32-bit ones each.
    #[inline(always)]
    fn add_reversed_products(self, x: &[Limb], y: &[Limb]) -> Column {
        match (x, y) {
            ([], _) | (_, []) => self,
            ([a0], [b0]) => self.add_product(*a0, *b0),
            ([a0, a1], [b1, b0]) => self.add_product(*a0, *b0).add_product(*a1, *b1),
            ([a0, a1, a2], [b2, b1, b0]) => self
                .add_product(*a0, *b0)
                .add_product(*a1, *b1)
                .add_product(*a2, *b2),
            _ => x
                .iter()
                .zip(y.iter().rev())
                .fold(self, |col, (&a, &b)| col.add_product(a, b)),
        }
    }

    /// Adds Σ x[j]·y[j], one product at a time, the same way.
    #[inline(always)]
    fn add_products(self, x: &[Limb], y: &[Limb]) -> Column {
        match (x, y) {
            ([], _) | (_, []) => self,
            ([a0], [b0]) => self.add_product(*a0, *b0),
            ([a0, a1], [b0, b1]) => self.add_product(*a0, *b0).add_product(*a1, *b1),
            ([a0, a1, a2], [b0, b1, b2]) => self
                .add_product(*a0, *b0)
                .add_product(*a1, *b1)
                .add_product(*a2, *b2),
            _ => x
                .iter()
                .zip(y)
                .fold(self, |col, (&a, &b)| col.add_product(a, b)),
        }
    }

    #[inline(always)]
    fn doubled(self) -> Column {
        Column {
            lo: self.lo << 1,
            hi: self.hi << 1,
        }
    }

    #[inline(always)]
    fn add_product(self, x: Limb, y: Limb) -> Column {
        let p = Wide::from(x) * Wide::from(y);
        Column {
            lo: self.lo + (p & Wide::from(Limb::MAX)),
            hi: self.hi + (p >> LIMB_BITS),
        }
    }

    #[inline(always)]
    fn add(self, other: Column) -> Column {
        Column {
            lo: self.lo + other.lo,
            hi: self.hi + other.hi,
        }
    }

    #[inline(always)]
    fn low_limb(self) -> Limb {
        self.lo as Limb
    }

    /// The column value divided by the limb base: the carry into the next column.
    #[inline(always)]
    fn shift(self) -> Column {
        Column {
            lo: (self.lo >> LIMB_BITS) + (self.hi & Wide::from(Limb::MAX)),
            hi: self.hi >> LIMB_BITS,
        }
    }
}

/// A column sum being built: the products wasm SIMD takes four at a time sit in vector lanes
/// until [`Sum::column`] adds everything up, once per column; the rest is a [`Column`].
#[derive(Clone, Copy)]
struct Sum {
    lanes: Lanes,
    rest: Column,
}

impl Sum {
    #[inline(always)]
    fn new() -> Sum {
        Sum {
            lanes: Lanes::zero(),
            rest: Column::default(),
        }
    }

    /// Adds Σ x[j]·y[len−1−j]: x against y reversed, the terms of one product column.
    #[inline(always)]
    fn add_reversed_dot(self, x: &[Limb], y: &[Limb]) -> Sum {
        let (lanes, x_rest, y_rest) = self.lanes.add_reversed_dot(x, y);
        Sum {
            lanes,
            rest: self.rest.add_reversed_products(x_rest, y_rest),
        }
    }

    /// Adds Σ x[j]·y[j] (x and y of equal length).
    #[inline(always)]
    fn add_dot(self, x: &[Limb], y: &[Limb]) -> Sum {
        let (lanes, x_rest, y_rest) = self.lanes.add_dot(x, y);
        Sum {
            lanes,
            rest: self.rest.add_products(x_rest, y_rest),
        }
    }

    #[inline(always)]
    fn add_product(self, x: Limb, y: Limb) -> Sum {
        Sum {
            rest: self.rest.add_product(x, y),
            ..self
        }
    }

    #[inline(always)]
    fn add(self, other: Column) -> Sum {
        Sum {
            rest: self.rest.add(other),
            ..self
        }
    }

    #[inline(always)]
    fn doubled(self) -> Sum {
        Sum {
            lanes: self.lanes.doubled(),
            rest: self.rest.doubled(),
        }
    }

    #[inline(always)]
    fn column(self) -> Column {
        self.lanes.total().add(self.rest)
    }
}

/// Without wasm SIMD there are no lanes: every product goes through [`Column`].
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[derive(Clone, Copy)]
struct Lanes;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl Lanes {
    #[inline(always)]
    fn zero() -> Lanes {
        Lanes
    }

    #[inline(always)]
    fn add_reversed_dot<'a>(self, x: &'a [Limb], y: &'a [Limb]) -> (Lanes, &'a [Limb], &'a [Limb]) {
        (self, x, y)
    }

    #[inline(always)]
    fn add_dot<'a>(self, x: &'a [Limb], y: &'a [Limb]) -> (Lanes, &'a [Limb], &'a [Limb]) {
        (self, x, y)
    }

    #[inline(always)]
    fn doubled(self) -> Lanes {
        self
    }

    #[inline(always)]
    fn total(self) -> Column {
        Column::default()
    }
}

/// With wasm SIMD, four 32x32→64 products per step (`i64x2.extmul_*_i32x4_u`), low and high
/// halves summed in two i64x2 accumulators.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[derive(Clone, Copy)]
struct Lanes {
    lo: core::arch::wasm32::v128,
    hi: core::arch::wasm32::v128,
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl Lanes {
    #[inline(always)]
    fn zero() -> Lanes {
        use core::arch::wasm32::u64x2_splat;
        Lanes {
            lo: u64x2_splat(0),
            hi: u64x2_splat(0),
        }
    }

    /// Adds Σ x[j]·y[len−1−j] over x's and y's whole chunks of four and returns what is left:
    /// the end of x and the start of y, which pair with each other.
    #[inline(always)]
    fn add_reversed_dot<'a>(self, x: &'a [Limb], y: &'a [Limb]) -> (Lanes, &'a [Limb], &'a [Limb]) {
        let xs = x.chunks_exact(4);
        let ys = y.rchunks_exact(4);
        let rest = (xs.remainder(), ys.remainder());
        let lanes = xs
            .zip(ys)
            .fold(self, |lanes, (a, b)| lanes.add_four(a, b, true));
        (lanes, rest.0, rest.1)
    }

    /// Adds Σ x[j]·y[j] over whole chunks of four and returns the ends of x and y.
    #[inline(always)]
    fn add_dot<'a>(self, x: &'a [Limb], y: &'a [Limb]) -> (Lanes, &'a [Limb], &'a [Limb]) {
        let xs = x.chunks_exact(4);
        let ys = y.chunks_exact(4);
        let rest = (xs.remainder(), ys.remainder());
        let lanes = xs
            .zip(ys)
            .fold(self, |lanes, (a, b)| lanes.add_four(a, b, false));
        (lanes, rest.0, rest.1)
    }

    /// Adds a[j]·b[j] for chunks of four, or a[j]·b[3−j] with `reversed`.
    #[inline(always)]
    fn add_four(self, a: &[Limb], b: &[Limb], reversed: bool) -> Lanes {
        use core::arch::wasm32::{
            i32x4_shuffle, u64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4, u64x2_shr,
            u64x2_splat, v128, v128_and, v128_load,
        };
        let (Ok(a), Ok(b)) = (<&[Limb; 4]>::try_from(a), <&[Limb; 4]>::try_from(b)) else {
            return self;
        };
        // SAFETY: `a` and `b` are four u32s each, so 16 bytes from their starts are readable;
        // `v128_load` has no alignment requirement.
        let (av, bv) = unsafe {
            (
                v128_load(a.as_ptr().cast::<v128>()),
                v128_load(b.as_ptr().cast::<v128>()),
            )
        };
        let bv = if reversed {
            i32x4_shuffle::<3, 2, 1, 0>(bv, bv)
        } else {
            bv
        };
        let mask = u64x2_splat(u64::from(u32::MAX));
        let Lanes { mut lo, mut hi } = self;
        let p = u64x2_extmul_low_u32x4(av, bv);
        lo = u64x2_add(lo, v128_and(p, mask));
        hi = u64x2_add(hi, u64x2_shr(p, 32));
        let p = u64x2_extmul_high_u32x4(av, bv);
        lo = u64x2_add(lo, v128_and(p, mask));
        hi = u64x2_add(hi, u64x2_shr(p, 32));
        Lanes { lo, hi }
    }

    #[inline(always)]
    fn doubled(self) -> Lanes {
        use core::arch::wasm32::u64x2_shl;
        Lanes {
            lo: u64x2_shl(self.lo, 1),
            hi: u64x2_shl(self.hi, 1),
        }
    }

    #[inline(always)]
    fn total(self) -> Column {
        use core::arch::wasm32::u64x2_extract_lane;
        Column {
            lo: u64x2_extract_lane::<0>(self.lo) + u64x2_extract_lane::<1>(self.lo),
            hi: u64x2_extract_lane::<0>(self.hi) + u64x2_extract_lane::<1>(self.hi),
        }
    }
}

/// The indices j of the terms x[j]·y[i−j] of column i of a product of two k-limb numbers.
#[inline(always)]
fn column_range(i: usize, k: usize) -> RangeInclusive<usize> {
    i.saturating_sub(k - 1)..=i.min(k - 1)
}

#[inline(always)]
fn part<'a>(x: &'a [Limb], range: &RangeInclusive<usize>) -> &'a [Limb] {
    x.get(range.clone()).unwrap_or_default()
}

/// out = a·b·R⁻¹ mod n for a, b < n. `m` is scratch of len(n) limbs.
fn mont_mul(out: &mut [Limb], a: &[Limb], b: &[Limb], n: &[Limb], n0: Limb, m: &mut [Limb]) {
    montgomery(out, n, n0, m, |i, k| {
        let range = column_range(i, k);
        let (x, y) = (part(a, &range), part(b, &range));
        Sum::new().add_reversed_dot(x, y)
    })
}

/// out = a²·R⁻¹ mod n for a < n: each cross product is computed once and doubled.
fn mont_sqr(out: &mut [Limb], a: &[Limb], n: &[Limb], n0: Limb, m: &mut [Limb]) {
    montgomery(out, n, n0, m, |i, k| {
        let x = part(a, &column_range(i, k));
        let half = x.len() / 2;
        let doubled = Sum::new()
            .add_reversed_dot(
                x.get(..half).unwrap_or_default(),
                x.get(x.len() - half..).unwrap_or_default(),
            )
            .doubled();
        match x.get(half) {
            Some(&mid) if x.len() % 2 == 1 => doubled.add_product(mid, mid),
            _ => doubled,
        }
    })
}

/// Montgomery multiplication by finely integrated product scanning: column i of the product
/// (given by `column`) and of m·n are summed together, m[i] is chosen so that column i < k
/// vanishes, and columns k..2k are the result.
#[inline(always)]
fn montgomery(
    out: &mut [Limb],
    n: &[Limb],
    n0: Limb,
    m: &mut [Limb],
    column: impl Fn(usize, usize) -> Sum,
) {
    let k = n.len();
    let n_low = n.first().copied().unwrap_or(0);
    // m is kept in reverse (m_j at m[k−1−j]): the terms m_j·n[i−j] of column i then pair
    // two ascending runs, which the vector loop takes without reversing lanes.
    let mut carry = Column::default();
    for i in 0..k {
        let chosen = m.get(k - i..).unwrap_or_default();
        let n_part = n.get(1..=i).unwrap_or_default();
        let col = column(i, k).add(carry).add_dot(n_part, chosen).column();
        let mi = col.low_limb().wrapping_mul(n0);
        if let Some(slot) = m.get_mut(k - 1 - i) {
            *slot = mi;
        }
        carry = col.add_product(mi, n_low).shift();
    }
    for (i, o) in (k..2 * k).zip(out.iter_mut()) {
        let n_part = n.get(i + 1 - k..).unwrap_or_default();
        let chosen = m.get(..2 * k - 1 - i).unwrap_or_default();
        let col = column(i, k).add(carry).add_dot(n_part, chosen).column();
        *o = col.low_limb();
        carry = col.shift();
    }
    // The result is below 2n, so one subtraction brings it below n.
    if carry.low_limb() != 0 || !less_than(out, n) {
        sub_in_place(out, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit modulus (the Wycheproof rsa_signature_2048 test key) for arithmetic tests.
    const N_2048: &str = "a2b451a07d0aa5f96e455671513550514a8a5b462ebef717094fa1fee82224e637f9746d3f7cafd31878d80325b6ef5a1700f65903b469429e89d6eac8845097b5ab393189db92512ed8a7711a1253facd20f79c15e8247f3d3e42e46e48c98e254a2fe9765313a03eff8f17e1a029397a1fa26a8dce26f490ed81299615d9814c22da610428e09c7d9658594266f5c021d0fceca08d945a12be82de4d1ece6b4c03145b5d3495d4ed5411eb878daf05fd7afc3e09ada0f1126422f590975a1969816f48698bcbba1b4d9cae79d460d8f9f85e7975005d9bc22c4e5ac0f7c1a45d12569a62807d3b9a02e5a530e773066f453d1f5b4c2e9cf7820283f742b9d5";
    const E_65537: u64 = 65537;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key() -> RsaPublicKey {
        RsaPublicKey::new(&unhex(N_2048), E_65537).unwrap()
    }

    /// Deterministic pseudo-random values below n (top limb cleared).
    fn values(k: usize, count: usize) -> Vec<Vec<Limb>> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..count)
            .map(|_| {
                let mut v: Vec<Limb> = (0..k)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as Limb
                    })
                    .collect();
                *v.last_mut().unwrap() = 0;
                v
            })
            .collect()
    }

    #[test]
    fn limb_conversion_round_trips() {
        let bytes = unhex(N_2048);
        let limbs = limbs_from_be(&bytes, 64);
        assert_eq!(limbs[0], 0x742b9d5 | 0xf0000000);
        assert_eq!(be_from_limbs(&limbs, 256), bytes);
        assert_eq!(limbs_from_be(&[1, 2, 3, 4, 5], 2), vec![0x02030405, 0x01]);
    }

    #[test]
    fn neg_inverse_times_modulus_is_minus_one() {
        for x in [1, 3, Limb::MAX, 0xf742_b9d5, 12345679] {
            assert_eq!(x.wrapping_mul(neg_inverse(x)), Limb::MAX, "x = {x:#x}");
        }
    }

    /// Row-wise (separated operand scanning) Montgomery multiplication: a second, differently
    /// organised implementation to check the product-scanning one against.
    fn reference_mont_mul(a: &[Limb], b: &[Limb], n: &[Limb], n0: Limb) -> Vec<Limb> {
        let k = n.len();
        let mut t = vec![0 as Limb; 2 * k + 1];
        for (i, &ai) in a.iter().enumerate() {
            let mut carry: Wide = 0;
            for (j, &bj) in b.iter().enumerate() {
                let w = Wide::from(t[i + j]) + Wide::from(ai) * Wide::from(bj) + carry;
                t[i + j] = w as Limb;
                carry = w >> LIMB_BITS;
            }
            t[i + k] = carry as Limb;
        }
        for i in 0..k {
            let m = t[i].wrapping_mul(n0);
            let mut carry: Wide = 0;
            for (j, &nj) in n.iter().enumerate() {
                let w = Wide::from(t[i + j]) + Wide::from(m) * Wide::from(nj) + carry;
                t[i + j] = w as Limb;
                carry = w >> LIMB_BITS;
            }
            let mut p = i + k;
            while carry != 0 {
                let w = Wide::from(t[p]) + carry;
                t[p] = w as Limb;
                carry = w >> LIMB_BITS;
                p += 1;
            }
        }
        let mut out = t[k..2 * k].to_vec();
        if t[2 * k] != 0 || !less_than(&out, n) {
            sub_in_place(&mut out, n);
        }
        out
    }

    #[test]
    fn multiplication_and_squaring_match_the_row_wise_reference() {
        let key = key();
        let k = key.n.len();
        let mut m = vec![0; k];
        let (mut prod, mut sq) = (vec![0; k], vec![0; k]);
        let mut vals = values(k, 40);
        let mut n_minus_1 = key.n.clone();
        n_minus_1[0] -= 1;
        vals.push(n_minus_1);
        vals.push(vec![0; k]);
        for (a, b) in vals.iter().zip(vals.iter().cycle().skip(1)) {
            mont_mul(&mut prod, a, b, &key.n, key.n0, &mut m);
            assert_eq!(prod, reference_mont_mul(a, b, &key.n, key.n0));
            mont_sqr(&mut sq, a, &key.n, key.n0, &mut m);
            assert_eq!(sq, reference_mont_mul(a, a, &key.n, key.n0));
        }
    }

    #[test]
    fn montgomery_round_trip_with_r_squared_is_identity() {
        let key = key();
        let k = key.n.len();
        let mut t = vec![0; k];
        let mut one = vec![0; k];
        one[0] = 1;
        let (mut m, mut back) = (vec![0; k], vec![0; k]);
        for a in values(k, 20) {
            mont_mul(&mut m, &a, &key.rr, &key.n, key.n0, &mut t);
            mont_mul(&mut back, &m, &one, &key.n, key.n0, &mut t);
            assert_eq!(back, a);
        }
    }

    #[test]
    fn r_squared_is_right_for_sizes_that_are_not_powers_of_two() {
        // 2056 bits = 65 limbs (odd limb count), 3072 bits, 4095 bits.
        for bits in [2056usize, 3072, 4095] {
            let mut n = vec![0xffu8; bits.div_ceil(8)];
            n[0] = 0xff >> (n.len() * 8 - bits);
            let key = RsaPublicKey::new(&n, E_65537).unwrap();
            assert_eq!(key.bits, bits);
            let k = key.n.len();
            let mut t = vec![0; k];
            let mut one = vec![0; k];
            one[0] = 1;
            // from_mont(rr) = R mod n, and from_mont(from_mont(rr)) = 1.
            let (mut r, mut unit) = (vec![0; k], vec![0; k]);
            mont_mul(&mut r, &key.rr, &one, &key.n, key.n0, &mut t);
            mont_mul(&mut unit, &r, &one, &key.n, key.n0, &mut t);
            assert_eq!(unit, one, "bits = {bits}");
        }
    }

    #[test]
    fn public_op_with_exponent_three_is_a_cube() {
        let key = RsaPublicKey::new(&unhex(N_2048), 3).unwrap();
        let k = key.n.len();
        let mut small = vec![0; k];
        small[0] = 7;
        let mut expected = vec![0; k];
        expected[0] = 343;
        assert_eq!(key.public_op(&small), expected);
        let key = key_with_e(65537);
        let mut two = vec![0; k];
        two[0] = 2;
        // 2^65537 mod n computed by repeated doubling.
        let mut x = vec![0 as Limb; k];
        x[0] = 1;
        for _ in 0..65537 {
            let carry = x.iter_mut().fold(0, |carry, limb| {
                let next = (*limb << 1) | carry;
                let out = *limb >> (LIMB_BITS - 1);
                *limb = next;
                out
            });
            if carry != 0 || !less_than(&x, &key.n) {
                sub_in_place(&mut x, &key.n);
            }
        }
        assert_eq!(key.public_op(&two), x);
    }

    fn key_with_e(e: u64) -> RsaPublicKey {
        RsaPublicKey::new(&unhex(N_2048), e).unwrap()
    }

    #[test]
    fn key_sizes_and_exponents_outside_the_limits_are_refused() {
        let n = unhex(N_2048);
        assert_eq!(
            RsaPublicKey::new(&n[1..], E_65537).unwrap_err(),
            KeyError::ModulusTooSmall { bits: 2040 }
        );
        assert_eq!(
            RsaPublicKey::new(&[], E_65537).unwrap_err(),
            KeyError::ModulusTooSmall { bits: 0 }
        );
        assert_eq!(
            RsaPublicKey::new(&vec![0xff; 1025], E_65537).unwrap_err(),
            KeyError::ModulusTooLarge { bits: 8200 }
        );
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(
            RsaPublicKey::new(&even, E_65537).unwrap_err(),
            KeyError::ModulusEven
        );
        for e in [0, 1, 2] {
            assert_eq!(
                RsaPublicKey::new(&n, e).unwrap_err(),
                KeyError::ExponentTooSmall,
                "e = {e}"
            );
        }
        for e in [RSA_MAX_EXPONENT + 2, u64::MAX] {
            assert_eq!(
                RsaPublicKey::new(&n, e).unwrap_err(),
                KeyError::ExponentTooLarge,
                "e = {e}"
            );
        }
        assert_eq!(
            RsaPublicKey::new(&n, 65536).unwrap_err(),
            KeyError::ExponentEven
        );
        let mut padded = vec![0, 0];
        padded.extend_from_slice(&n);
        let key = RsaPublicKey::new(&padded, E_65537).unwrap();
        assert_eq!((key.bits, key.modulus_len()), (2048, 256));
        assert_eq!(key_with_e(RSA_MAX_EXPONENT).e, RSA_MAX_EXPONENT);
    }

    #[test]
    fn signature_of_the_wrong_length_is_refused() {
        let key = key();
        for len in [0, 255, 257] {
            assert_eq!(
                key.verify(Scheme::Pkcs1v15(HashAlg::Sha256), b"m", &vec![1; len]),
                Err(SignatureError::WrongLength {
                    expected: 256,
                    actual: len
                })
            );
        }
    }

    #[test]
    fn signature_not_below_the_modulus_is_refused() {
        let key = key();
        let n = unhex(N_2048);
        let mut above = n.clone();
        *above.last_mut().unwrap() += 2;
        for sig in [n, above, vec![0xff; 256]] {
            assert_eq!(
                key.verify(Scheme::Pss(HashAlg::Sha256), b"m", &sig),
                Err(SignatureError::NotBelowModulus)
            );
        }
    }

    #[test]
    fn arbitrary_signatures_are_mismatches_for_every_scheme() {
        let key = key();
        let schemes = [
            Scheme::Pkcs1v15(HashAlg::Sha256),
            Scheme::Pkcs1v15(HashAlg::Sha384),
            Scheme::Pkcs1v15(HashAlg::Sha512),
            Scheme::Pss(HashAlg::Sha256),
            Scheme::Pss(HashAlg::Sha384),
            Scheme::Pss(HashAlg::Sha512),
        ];
        let mut sigs: Vec<Vec<u8>> = values(64, 30)
            .iter()
            .map(|v| be_from_limbs(v, 256))
            .collect();
        sigs.push(vec![0; 256]);
        let mut one = vec![0; 256];
        one[255] = 1;
        sigs.push(one);
        for sig in &sigs {
            for scheme in schemes {
                assert_eq!(
                    key.verify(scheme, b"message", sig),
                    Err(SignatureError::Mismatch)
                );
            }
        }
    }

    /// Encodings built here and raised to the private exponent are not available without a
    /// private key, so the PSS and PKCS#1 checks are exercised directly on the encoded message.
    #[test]
    fn pkcs1v15_check_accepts_only_the_exact_encoding() {
        let digest = HashAlg::Sha256.hash(&[b"hello"]);
        let mut em = vec![0x00, 0x01];
        em.resize(256 - 19 - 32 - 1, 0xff);
        em.push(0);
        em.extend_from_slice(HashAlg::Sha256.digest_info_prefix());
        em.extend_from_slice(digest.as_slice());
        assert_eq!(em.len(), 256);
        assert_eq!(check_pkcs1v15(&em, HashAlg::Sha256, b"hello"), Ok(()));
        assert_eq!(
            check_pkcs1v15(&em, HashAlg::Sha256, b"hellO"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check_pkcs1v15(&em, HashAlg::Sha384, b"hello"),
            Err(SignatureError::Mismatch)
        );
        for i in 0..em.len() {
            let mut bad = em.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                check_pkcs1v15(&bad, HashAlg::Sha256, b"hello"),
                Err(SignatureError::Mismatch),
                "byte {i}"
            );
        }
        assert_eq!(
            check_pkcs1v15(&em[..60], HashAlg::Sha256, b"hello"),
            Err(SignatureError::Mismatch)
        );
    }

    fn pss_encode(hash: HashAlg, message: &[u8], salt: &[u8], mod_bits: usize) -> Vec<u8> {
        let em_bits = mod_bits - 1;
        let em_len = em_bits.div_ceil(8);
        let h_len = hash.len();
        let m_hash = hash.hash(&[message]);
        let h = hash.hash(&[&[0u8; 8], m_hash.as_slice(), salt]);
        let mut db = vec![0u8; em_len - salt.len() - h_len - 2];
        db.push(1);
        db.extend_from_slice(salt);
        mgf1_xor(hash, h.as_slice(), &mut db);
        db[0] &= 0xff >> (8 * em_len - em_bits);
        let mut em = db;
        em.extend_from_slice(h.as_slice());
        em.push(0xbc);
        let k = mod_bits.div_ceil(8);
        let mut full = vec![0; k - em_len];
        full.extend_from_slice(&em);
        full
    }

    #[test]
    fn pss_check_accepts_a_well_formed_encoding_and_nothing_else() {
        for (hash, mod_bits) in [
            (HashAlg::Sha256, 2048),
            (HashAlg::Sha384, 2049),
            (HashAlg::Sha512, 3071),
        ] {
            let salt = vec![0x5a; hash.len()];
            let em = pss_encode(hash, b"msg", &salt, mod_bits);
            assert_eq!(check_pss(&em, mod_bits, hash, b"msg"), Ok(()));
            assert_eq!(
                check_pss(&em, mod_bits, hash, b"msh"),
                Err(SignatureError::Mismatch)
            );
            for i in 0..em.len() {
                for bit in [0x01, 0x80] {
                    let mut bad = em.clone();
                    bad[i] ^= bit;
                    assert_eq!(
                        check_pss(&bad, mod_bits, hash, b"msg"),
                        Err(SignatureError::Mismatch),
                        "{hash:?} {mod_bits} byte {i} bit {bit:#x}"
                    );
                }
            }
            let short_salt = pss_encode(hash, b"msg", &salt[1..], mod_bits);
            assert_eq!(
                check_pss(&short_salt, mod_bits, hash, b"msg"),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn arbitrary_keys_and_signatures_never_panic() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let schemes = [
            Scheme::Pkcs1v15(HashAlg::Sha512),
            Scheme::Pss(HashAlg::Sha256),
            Scheme::Pss(HashAlg::Sha512),
        ];
        for round in 0..60 {
            let n_len = 250 + (next() % 20) as usize;
            let mut n: Vec<u8> = (0..n_len).map(|_| next() as u8).collect();
            if round % 3 != 0 {
                *n.last_mut().unwrap() |= 1;
            }
            // Mostly below 2^33 (and odd half the time), sometimes tiny or too large.
            let e = next() >> (24 + next() % 40);
            let Ok(key) = RsaPublicKey::new(&n, e) else {
                continue;
            };
            for sig_len in [key.len - 1, key.len, key.len + 1] {
                let sig: Vec<u8> = (0..sig_len).map(|_| next() as u8).collect();
                for scheme in schemes {
                    let result = key.verify(scheme, b"x", &sig);
                    assert!(
                        matches!(
                            result,
                            Err(SignatureError::WrongLength { .. }
                                | SignatureError::NotBelowModulus
                                | SignatureError::Mismatch)
                        ),
                        "{result:?}"
                    );
                }
            }
        }
    }
}
