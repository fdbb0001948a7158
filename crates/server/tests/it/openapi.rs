//! The web app's API types are generated from `web/openapi.json` (`npm run gen:api` in web/,
//! which `npm run build` runs first), so that file must be exactly the document the server
//! serves at /api/openapi.json. This test keeps it so: a handler change that alters the
//! document fails here until the file is rewritten, and rewriting it makes the web app's
//! `tsc --noEmit` fail wherever the client relies on what changed.
//!
//! The server serves `openapi()` as compact JSON (utoipa-swagger-ui's `Json(doc)`); the file
//! holds the same serialisation pretty-printed (serde_json's two-space layout, keys in the order
//! the server emits them) with a trailing newline.

use std::path::PathBuf;

const UPDATE: &str = "FERROCAST_UPDATE_OPENAPI";
const COMMAND: &str = "FERROCAST_UPDATE_OPENAPI=1 cargo nextest run -p ferrocast-server openapi";

#[test]
fn web_openapi_json_is_the_servers_document() {
    let doc = ferrocast_server::app::openapi();
    // Every operation has its own id: the generated client names its types after them.
    let mut ids = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (path, item) in &doc.paths.paths {
        let value = serde_json::to_value(item).expect("a path item serialises");
        for (method, op) in value.as_object().into_iter().flatten() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                ids.entry(id.to_string())
                    .or_default()
                    .push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let shared: Vec<_> = ids.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(
        shared.is_empty(),
        "operation ids used more than once (give each handler its own operation_id): {shared:?}"
    );
    let mut expected =
        serde_json::to_string_pretty(&doc).expect("the OpenAPI document serialises to JSON");
    expected.push('\n');
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/openapi.json");

    if std::env::var(UPDATE).is_ok_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &expected)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("{UPDATE} is set: wrote {}", path.display());
        return;
    }

    let saved = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => panic!(
            "cannot read {}: {e}\nWrite it with:\n    {COMMAND}",
            path.display()
        ),
    };
    if saved == expected {
        return;
    }
    // Point at the first line that differs, so the message says what changed.
    let (file_lines, server_lines): (Vec<&str>, Vec<&str>) =
        (saved.split('\n').collect(), expected.split('\n').collect());
    let line = (0..file_lines.len().max(server_lines.len()))
        .find(|&i| file_lines.get(i) != server_lines.get(i))
        .unwrap_or(0);
    let show =
        |l: Option<&&str>| l.map_or_else(|| "<end of file>".to_owned(), |s| format!("{s:?}"));
    let (ours, theirs) = (show(file_lines.get(line)), show(server_lines.get(line)));
    let line = line + 1;
    panic!(
        "web/openapi.json is not the server's OpenAPI document (first difference at line {line}:\n  \
         file:   {ours}\n  server: {theirs}\n)\n\
         The web app's API types are generated from that file. Rewrite it with:\n    {COMMAND}\n\
         then run `npm run build --prefix web`: its type check shows where the web app must \
         follow the change. Commit web/openapi.json with the server change."
    );
}
