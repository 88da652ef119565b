// Validates JSON Schemas against the JSON Schema 2020-12 metaschema with Ajv, which compiles
// every `pattern` as an ECMA-262 regular expression in Unicode mode (so `\p{L}` is valid).
// Usage: node validate-schemas.mjs <file of [{"name": ..., "schema": ...}]>
// Prints {"checked": N, "invalid": [{"name", "errors"}]}.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const ajv = new Ajv2020({ strict: false, validateFormats: true, allErrors: true });
addFormats(ajv);
const entries = JSON.parse(readFileSync(process.argv[2], "utf8"));
const invalid = [];
for (const { name, schema } of entries) {
  let errors = null;
  if (!ajv.validateSchema(schema)) {
    errors = ajv.errorsText(ajv.errors);
  } else {
    try {
      ajv.compile(schema);
    } catch (error) {
      errors = String(error.message ?? error);
    }
  }
  if (errors) invalid.push({ name, errors });
}
console.log(JSON.stringify({ checked: entries.length, invalid }));
