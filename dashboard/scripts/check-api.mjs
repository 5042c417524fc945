// Fails when src/api/schema.d.ts is not what openapi-typescript makes of openapi.json
// (regenerate with `npm run gen:api`).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const out = join(mkdtempSync(join(tmpdir(), "axonize-api-")), "schema.d.ts");
execFileSync("npx", ["openapi-typescript", "openapi.json", "-o", out], { stdio: "inherit" });
if (readFileSync(out, "utf8") !== readFileSync("src/api/schema.d.ts", "utf8")) {
  console.error("src/api/schema.d.ts is stale: run `npm run gen:api` and commit it");
  process.exit(1);
}
console.log("src/api/schema.d.ts matches openapi.json");
