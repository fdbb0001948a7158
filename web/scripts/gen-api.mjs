// Writes src/api-types.ts, the API's request and response types, from openapi.json, the
// server's OpenAPI document (crates/server/tests/openapi_contract.rs keeps that file equal to
// what the server serves). `npm run gen:api`; `npm run build` runs it first. The output is
// generated, not committed (.gitignore).
//
// openapi-typescript's CLI (`openapi-typescript openapi.json -o src/api-types.ts`) would do,
// except that the server gives two operations one operationId when two handlers share a
// function name (`get_settings` is GET /api/admin/settings and GET
// /api/chat/settings/{source_id}); the CLI then declares `operations.get_settings` twice and
// `tsc` refuses the file. Here such ids get the method and path appended, in the generated
// types only, and each one is reported; openapi.json stays exactly the server's document.
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { readFileSync, writeFileSync } from "node:fs";

const web = new URL("..", import.meta.url);
const doc = JSON.parse(readFileSync(new URL("openapi.json", web), "utf8"));

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ops = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]?.operationId).map((method) => ({ path, method, op: item[method] })),
);
const uses = new Map();
for (const { op } of ops) uses.set(op.operationId, (uses.get(op.operationId) ?? 0) + 1);
for (const { path, method, op } of ops) {
  if (uses.get(op.operationId) < 2) continue;
  const unique = `${op.operationId}__${method}${path.replace(/[^A-Za-z0-9]+/g, "_")}`;
  console.warn(`openapi.json: operationId ${op.operationId} is not unique; ${method.toUpperCase()} ${path} is operations["${unique}"] in src/api-types.ts`);
  op.operationId = unique;
}

const types = COMMENT_HEADER + astToString(await openapiTS(doc, { silent: true }));
writeFileSync(new URL("src/api-types.ts", web), types);
