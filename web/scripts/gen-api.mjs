// Writes src/api-types.ts, the API's request and response types, from openapi.json, the
// server's OpenAPI document (crates/server/tests/it/openapi.rs keeps that file equal to
// what the server serves). `npm run gen:api`; `npm run build` runs it first. The output is
// generated, not committed (.gitignore).
//
// Operation ids must be unique (the server's OpenAPI test checks it too): a duplicate would be
// declared twice in the generated types, so it stops the build here with the operations named.
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { readFileSync, writeFileSync } from "node:fs";

const web = new URL("..", import.meta.url);
const doc = JSON.parse(readFileSync(new URL("openapi.json", web), "utf8"));

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ops = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]?.operationId).map((method) => ({ path, method, op: item[method] })),
);
const uses = new Map();
for (const { path, method, op } of ops) {
  uses.set(op.operationId, [...(uses.get(op.operationId) ?? []), `${method.toUpperCase()} ${path}`]);
}
const duplicates = [...uses].filter(([, at]) => at.length > 1);
if (duplicates.length > 0) {
  for (const [id, at] of duplicates) console.error(`openapi.json: operationId ${id} is used by ${at.join(" and ")}`);
  console.error("Give each handler its own operation_id in its #[utoipa::path] and rewrite openapi.json.");
  process.exit(1);
}

const types = COMMENT_HEADER + astToString(await openapiTS(doc, { silent: true }));
writeFileSync(new URL("src/api-types.ts", web), types);
