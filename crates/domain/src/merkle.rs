//! Merkle trees as RFC 9162 (Certificate Transparency v2) §2.1 defines them: the tree's hash,
//! inclusion proofs (audit paths) and consistency proofs, and the algorithms that verify them.
//!
//! - a leaf's hash is `SHA-256(0x00 || data)`, an interior node's `SHA-256(0x01 || left || right)`;
//! - the hash of the empty tree is `SHA-256("")`;
//! - a tree of `n > 1` leaves splits at `k`, the largest power of two smaller than `n`:
//!   `MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`.
//!
//! Everything works on leaf hashes (the caller hashes each leaf's data once with [`leaf_hash`]).

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1usize;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash `MTH(D[n])` of leaves given by their hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof `PATH(m, D[n])` of leaf `m` in the tree of `leaves`; `None` when `m` is
/// not a leaf of it.
pub fn inclusion_proof(leaves: &[Hash], m: usize) -> Option<Vec<Hash>> {
    if m >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Some(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// The consistency proof `PROOF(m, D[n])` between the tree of the first `m` leaves and the tree
/// of all `leaves`; `None` unless `0 < m <= n`. (`m == n` gives the empty proof.)
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Option<Vec<Hash>> {
    if m == 0 || m > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    Some(out)
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !b {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], b, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Verifies an inclusion proof as RFC 9162 §2.1.3.2 says: that the leaf `leaf_index` with hash
/// `leaf` is in the tree of `tree_size` leaves whose hash is `root`.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if leaf_index >= tree_size {
        return false;
    }
    let (mut fnode, mut snode) = (leaf_index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &r == root
}

/// Verifies a consistency proof as RFC 9162 §2.1.4.2 says: that the tree of `first` leaves
/// with hash `first_root` is a prefix of the tree of `second` leaves with hash `second_root`.
/// Two trees of the same size are consistent when their hashes are equal (the proof is empty);
/// the empty tree is a prefix of every tree.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty() && first_root == &empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    &fr == first_root && &sr == second_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// The tree hashes of the test vectors that Certificate Transparency's reference code uses
    /// (google/certificate-transparency, `merkle_tree_test.cc`): eight leaves of the given data,
    /// the root after each prefix.
    #[test]
    fn known_roots() {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(&hex(&root(&hashes[..=n])), want, "root of {} leaves", n + 1);
        }
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn proofs_match_the_rfc_shapes() {
        // RFC 9162 §2.1.5: the tree of seven leaves, d0..d6.
        let d = leaves(7);
        let h = |a: usize, b: usize| root(&d[a..b]);
        assert_eq!(
            inclusion_proof(&d, 0).unwrap(),
            vec![d[1], h(2, 4), h(4, 7)]
        );
        assert_eq!(
            inclusion_proof(&d, 3).unwrap(),
            vec![d[2], h(0, 2), h(4, 7)]
        );
        assert_eq!(inclusion_proof(&d, 4).unwrap(), vec![d[5], d[6], h(0, 4)]);
        assert_eq!(inclusion_proof(&d, 6).unwrap(), vec![h(4, 6), h(0, 4)]);
        assert_eq!(
            consistency_proof(&d, 3).unwrap(),
            vec![d[2], d[3], h(0, 2), h(4, 7)]
        );
        assert_eq!(consistency_proof(&d, 4).unwrap(), vec![h(4, 7)]);
        assert_eq!(
            consistency_proof(&d, 6).unwrap(),
            vec![h(4, 6), h(6, 7), h(0, 4)]
        );
        assert!(inclusion_proof(&d, 7).is_none());
        assert!(consistency_proof(&d, 0).is_none());
        assert!(consistency_proof(&d, 8).is_none());
    }

    #[test]
    fn every_proof_up_to_33_leaves_verifies_and_a_wrong_one_does_not() {
        let all = leaves(33);
        for n in 1..=all.len() {
            let d = &all[..n];
            let r = root(d);
            for m in 0..n {
                let p = inclusion_proof(d, m).unwrap();
                assert!(
                    verify_inclusion(m as u64, n as u64, &d[m], &p, &r),
                    "{m} in {n}"
                );
                // The index must be inside the tree.
                assert!(!verify_inclusion(n as u64, n as u64, &d[m], &p, &r));
                let other = (m + 1) % n;
                if other != m {
                    assert!(!verify_inclusion(m as u64, n as u64, &d[other], &p, &r));
                }
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(m as u64, n as u64, &d[m], &bad, &r));
                }
            }
            for m in 1..=n {
                let p = consistency_proof(d, m).unwrap();
                let rm = root(&d[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &rm, &r, &p),
                    "{m} → {n}"
                );
                if m < n {
                    assert!(!verify_consistency(m as u64, n as u64, &r, &r, &p));
                    let mut bad = p.clone();
                    let last = bad.len() - 1;
                    bad[last] = node_hash(&bad[last], &bad[last]);
                    assert!(!verify_consistency(m as u64, n as u64, &rm, &r, &bad));
                    assert!(!verify_consistency(m as u64, n as u64, &rm, &r, &[]));
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn proofs_hold_for_any_tree(n in 1usize..300, a in 0usize..300, b in 0usize..300) {
            let d = leaves(n);
            let m = a % n;
            let r = root(&d);
            let p = inclusion_proof(&d, m).unwrap();
            proptest::prop_assert!(verify_inclusion(m as u64, n as u64, &d[m], &p, &r));
            let first = 1 + b % n;
            let c = consistency_proof(&d, first).unwrap();
            proptest::prop_assert!(verify_consistency(first as u64, n as u64, &root(&d[..first]), &r, &c));
            // A leaf changed anywhere changes the root and breaks the old proofs.
            let mut changed = d.clone();
            changed[m] = leaf_hash(b"changed");
            proptest::prop_assert_ne!(root(&changed), r);
            proptest::prop_assert!(!verify_inclusion(m as u64, n as u64, &changed[m], &p, &r));
        }
    }
}
