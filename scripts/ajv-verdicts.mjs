// Ajv's verdicts on instances of JSON Schemas, for the differential test of the generated
// argument parsers (cli/tests/argument_parsers.rs). JSON Schema 2020-12, patterns as
// ECMA-262 in Unicode mode, `format` not asserted (specgate does not enforce it either).
// Usage: node ajv-verdicts.mjs <file of [{"schema": ..., "instances": [...]}]>
// Prints one array of booleans per entry, in order.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const ajv = new Ajv2020({ strict: false, validateFormats: false });
const entries = JSON.parse(readFileSync(process.argv[2], "utf8"));
const verdicts = entries.map(({ schema, instances }) => {
  const validate = ajv.compile(schema);
  return instances.map((instance) => validate(instance) === true);
});
console.log(JSON.stringify(verdicts));
