// Validates JSON Schemas against the JSON Schema 2020-12 metaschema with Ajv, which compiles
// every `pattern` as an ECMA-262 regular expression in Unicode mode (so `\p{L}` is valid).
// Usage: node validate-schemas.mjs <file of [{"name": ..., "schema": ...}] | directory of such files>
// Prints {"checked": N, "invalid": [{"name", "errors"}]}.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const ajv = new Ajv2020({ strict: false, validateFormats: true, allErrors: true });
addFormats(ajv);
const target = process.argv[2];
const files = statSync(target).isDirectory()
  ? readdirSync(target).filter((f) => f.endsWith(".json")).sort().map((f) => join(target, f))
  : [target];
let checked = 0;
const invalid = [];
for (const file of files) {
  for (const { name, schema } of JSON.parse(readFileSync(file, "utf8"))) {
    checked += 1;
    let errors = null;
    if (!ajv.validateSchema(schema)) {
      errors = ajv.errorsText(ajv.errors);
    } else {
      try {
        ajv.compile(schema);
      } catch (error) {
        errors = String(error.message ?? error);
      }
      // A corpus holds over 100,000 schemas: none stays cached once checked.
      ajv.removeSchema(schema);
    }
    if (errors) invalid.push({ name, errors });
  }
}
console.log(JSON.stringify({ checked, invalid }));
