//! Loads the Wycheproof signature vectors and runs them against a backend.

use crate::alg::{Alg, Backend, KeyMaterial};
use serde_json::Value;
use std::path::Path;

/// Files and the JOSE algorithm each one exercises.
pub const FILES: [(&str, Alg); 10] = [
    ("rsa_signature_2048_sha256_test.json", Alg::Rs256),
    ("rsa_signature_3072_sha256_test.json", Alg::Rs256),
    ("rsa_signature_4096_sha256_test.json", Alg::Rs256),
    ("rsa_signature_2048_sha384_test.json", Alg::Rs384),
    ("rsa_signature_2048_sha512_test.json", Alg::Rs512),
    ("rsa_pss_2048_sha256_mgf1_32_test.json", Alg::Ps256),
    ("rsa_pss_2048_sha384_mgf1_48_test.json", Alg::Ps384),
    ("ecdsa_secp256r1_sha256_p1363_test.json", Alg::Es256),
    ("ecdsa_secp384r1_sha384_p1363_test.json", Alg::Es384),
    ("ed25519_test.json", Alg::EdDsa),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Valid,
    Invalid,
    Acceptable,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub tc_id: u64,
    pub comment: String,
    pub flags: Vec<String>,
    pub key: KeyMaterial,
    pub key_bits: u64,
    pub msg: Vec<u8>,
    pub sig: Vec<u8>,
    pub expect: Expect,
}

pub struct VectorFile {
    pub name: &'static str,
    pub alg: Alg,
    pub cases: Vec<Case>,
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("bad hex {s:.20}: {e}"))
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field {name}"))
}

fn key_of(alg: Alg, group: &Value) -> Result<(KeyMaterial, u64), String> {
    let pk = group.get("publicKey").ok_or("group without publicKey")?;
    Ok(match alg {
        a if a.is_rsa() => (
            KeyMaterial::Rsa {
                n: unhex(str_field(pk, "modulus")?)?,
                e: unhex(str_field(pk, "publicExponent")?)?,
            },
            group.get("keySize").and_then(Value::as_u64).unwrap_or(0),
        ),
        Alg::Es256 | Alg::Es384 => {
            let point = unhex(str_field(pk, "uncompressed")?)?;
            let coord = (point.len().saturating_sub(1)) / 2;
            let x = point.get(1..1 + coord).unwrap_or_default().to_vec();
            let y = point.get(1 + coord..).unwrap_or_default().to_vec();
            (KeyMaterial::Ec { x, y }, coord as u64 * 8)
        }
        _ => (
            KeyMaterial::Ed25519 {
                x: unhex(str_field(pk, "pk")?)?,
            },
            255,
        ),
    })
}

pub fn load(dir: &Path) -> Result<Vec<VectorFile>, String> {
    FILES
        .iter()
        .map(|&(name, alg)| {
            let path = dir.join(name);
            let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let doc: Value = serde_json::from_slice(&text).map_err(|e| format!("{name}: {e}"))?;
            let mut cases = Vec::new();
            for group in doc
                .get("testGroups")
                .and_then(Value::as_array)
                .ok_or("no testGroups")?
            {
                let (key, key_bits) = key_of(alg, group)?;
                for t in group
                    .get("tests")
                    .and_then(Value::as_array)
                    .ok_or("no tests")?
                {
                    let expect = match str_field(t, "result")? {
                        "valid" => Expect::Valid,
                        "invalid" => Expect::Invalid,
                        "acceptable" => Expect::Acceptable,
                        other => return Err(format!("unknown result {other}")),
                    };
                    cases.push(Case {
                        tc_id: t.get("tcId").and_then(Value::as_u64).unwrap_or(0),
                        comment: str_field(t, "comment").unwrap_or("").to_string(),
                        flags: t
                            .get("flags")
                            .and_then(Value::as_array)
                            .map(|f| {
                                f.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        key: key.clone(),
                        key_bits,
                        msg: unhex(str_field(t, "msg")?)?,
                        sig: unhex(str_field(t, "sig")?)?,
                        expect,
                    });
                }
            }
            Ok(VectorFile { name, alg, cases })
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    /// Cases whose verdict contradicts the file: (tcId, comment, flags, verified).
    pub failures: Vec<(u64, String, Vec<String>, bool)>,
    pub acceptable_accepted: usize,
    pub acceptable_rejected: usize,
}

/// Prepares the key of each case (a key the backend refuses counts as a rejection) and verifies.
pub fn run<B: Backend>(file: &VectorFile) -> Outcome {
    let mut out = Outcome::default();
    for case in &file.cases {
        let verified = match B::prepare(file.alg, &case.key) {
            Some(key) => B::verify(&key, file.alg, &case.msg, &case.sig),
            None => false,
        };
        match (case.expect, verified) {
            (Expect::Valid, true) | (Expect::Invalid, false) => out.passed += 1,
            (Expect::Acceptable, true) => out.acceptable_accepted += 1,
            (Expect::Acceptable, false) => out.acceptable_rejected += 1,
            _ => out.failures.push((
                case.tc_id,
                case.comment.clone(),
                case.flags.clone(),
                verified,
            )),
        }
    }
    out
}

/// The first valid case with the most common key for the algorithm (e = 65537 for RSA).
pub fn fixture(files: &[VectorFile], alg: Alg, key_bits: u64) -> Option<&Case> {
    files
        .iter()
        .filter(|f| f.alg == alg)
        .flat_map(|f| f.cases.iter())
        .find(|c| {
            c.expect == Expect::Valid
                && c.key_bits == key_bits
                && match &c.key {
                    KeyMaterial::Rsa { e, .. } => e.as_slice() == [1, 0, 1],
                    _ => true,
                }
        })
}
