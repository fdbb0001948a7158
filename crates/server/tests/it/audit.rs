//! The audit log: entries appended as RFC 9162 leaves, checked by an independent Python
//! implementation (`tests/py/audit_check.py`: hashlib and the RFC's verification algorithms),
//! personal data erased without breaking the tree, signed checkpoints, proofs through the API,
//! and the replay that finds an entry edited, deleted or moved behind the application's back.

use crate::support;

use ferrocast_server::service::audit::{Actor, AuditEvent};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::{call, register_user, Backend, TestApp};

fn python() -> PathBuf {
    let python = std::env::var("FERROCAST_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-python/bin/python")
        });
    assert!(
        python.exists(),
        "the audit tests need Python with `cryptography`: run scripts/test.sh (it creates {})",
        python.display()
    );
    python
}

/// Runs `tests/py/audit_check.py` on `request`.
fn independent_check(request: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/audit_check.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(request.to_string().as_bytes())
            .expect("write request");
    }
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "audit_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("audit_check.py prints JSON")
}

fn event<'a>(action: &'a str, actor: Actor, details: Value) -> AuditEvent<'a> {
    AuditEvent {
        action,
        actor,
        subject: None,
        details,
        personal: Value::Null,
        personal_of: None,
    }
}

/// Entries recorded through the service hash as the independent code computes them, every
/// inclusion and consistency proof verifies there, personal data is erased without touching
/// the tree, and the replay passes.
async fn leaves_proofs_and_erasure(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let state = &app.running.as_ref().expect("running").state;
    let audit = &state.audit;
    let base = audit.size().await.expect("size") as usize;
    // Seventeen entries of every shape: subjects, personal data, escapes, fractions.
    for i in 0..17u64 {
        let mut e = event(
            "test.entry",
            match i % 3 {
                0 => Actor::User(40 + i as i64),
                1 => Actor::System,
                _ => Actor::Anonymous,
            },
            json!({"n": i, "text": "quote \" backslash \\ newline \n tab \t é ✓ \u{1}", "nested": {"b": [1, 2.5, null], "a": true}}),
        );
        let id = i.to_string();
        if i % 2 == 0 {
            e.subject = Some(("user", id));
        }
        if i % 4 == 0 {
            e.personal = json!({"email": format!("person{i}@example.com"), "ip": "192.0.2.7"});
            e.personal_of = Some(1000 + (i as i64 % 8));
        }
        let idx = audit.record(e).await.expect("record");
        assert_eq!(idx as usize, base + i as usize);
    }
    // Bad events are refused with a reason.
    assert!(audit
        .record(event("Bad Action", Actor::System, json!({})))
        .await
        .is_err());

    let size = audit.size().await.expect("size");
    let mut entries = Vec::new();
    for i in 0..size {
        entries.push(serde_json::to_value(audit.entry(i).await.expect("entry")).expect("json"));
    }
    assert_eq!(
        entries[base + 1]["details"]["nested"]["b"],
        json!([1, "2.5", null]),
        "fractions are stored as text"
    );
    let mut inclusion = Vec::new();
    for (index, tree) in [
        (0, size),
        (base as i64, size),
        (size - 1, size),
        (3, 7),
        (6, 7),
        (base as i64 + 4, base as i64 + 9),
    ] {
        if index < tree && tree <= size {
            inclusion.push(
                serde_json::to_value(
                    audit
                        .inclusion_proof(index, Some(tree))
                        .await
                        .expect("proof"),
                )
                .expect("json"),
            );
        }
    }
    let mut consistency = Vec::new();
    for (from, to) in [
        (1, size),
        (3, 7),
        (4, 7),
        (6, 7),
        (size / 2, size),
        (size, size),
        (base as i64 + 5, size),
    ] {
        if from >= 1 && from <= to && to <= size {
            consistency.push(
                serde_json::to_value(
                    audit
                        .consistency_proof(from, Some(to))
                        .await
                        .expect("proof"),
                )
                .expect("json"),
            );
        }
    }
    let checkpoint =
        serde_json::to_value(audit.checkpoint().await.expect("checkpoint")).expect("json");
    assert_eq!(checkpoint["tree_size"], json!(size));
    assert_eq!(checkpoint["signature_valid"], json!(true));
    let out = independent_check(&json!({
        "entries": entries,
        "inclusion": inclusion,
        "consistency": consistency,
        "checkpoint": checkpoint,
        "public_key_pem": audit.public_key_pem(),
    }));
    assert_eq!(out["errors"], json!([]), "{out}");
    assert_eq!(out["leaves_ok"], json!(true));
    assert!(inclusion.len() >= 4 && consistency.len() >= 5);
    assert_eq!(
        out["inclusion_ok"],
        json!(vec![true; inclusion.len()]),
        "{out}"
    );
    assert_eq!(
        out["consistency_ok"],
        json!(vec![true; consistency.len()]),
        "{out}"
    );
    assert_eq!(out["checkpoint_ok"], json!(true));
    for p in &inclusion {
        let n = p["tree_size"].as_i64().expect("size").to_string();
        assert_eq!(
            p["root_hash"], out["roots"][&n],
            "the server's root of {n} leaves is Python's"
        );
    }
    assert_eq!(checkpoint["root_hash"], out["roots"][&size.to_string()]);

    // Erasure: the personal data goes, the leaves and the checkpoint stay valid.
    let erased = audit.erase_personal(1000).await.expect("erase");
    assert_eq!(erased, 3, "entries 0, 8 and 16 were about user 1000");
    let e0 = audit.entry(base as i64).await.expect("entry");
    assert_eq!(e0.personal, Value::Null);
    assert!(e0.personal_erased);
    let e4 = audit.entry(base as i64 + 4).await.expect("entry");
    assert_eq!(e4.personal["email"], json!("person4@example.com"));
    let report = audit
        .verify()
        .await
        .expect("the log verifies after erasure");
    assert_eq!(report.entries as i64, size);
    assert!(report.checkpoints >= 1);
    assert_eq!(audit.size().await.expect("size"), size);
    app.finish().await;
}

/// Concurrent appends are numbered one at a time, without gaps, chained in order.
async fn concurrent_appends_stay_contiguous(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let state = app.running.as_ref().expect("running").state.clone();
    let before = state.audit.size().await.expect("size");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..10 {
                got.push(
                    state
                        .audit
                        .record(event(
                            "test.concurrent",
                            Actor::System,
                            json!({"t": t, "i": i}),
                        ))
                        .await
                        .expect("record"),
                );
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    let want: Vec<u64> = (before as u64..before as u64 + 80).collect();
    assert_eq!(all, want);
    state.audit.verify().await.expect("verifies");
    let _ = register_user;
    let _ = call;
    app.finish().await;
}

both_backends!(
    leaves_proofs_and_erasure,
    concurrent_appends_stay_contiguous
);
