// Validates OpenRPC documents against the official OpenRPC meta-schema.
// Usage: node validate.mjs FILE...   (exit 1 when a document is invalid)
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import openrpcMeta from "@open-rpc/meta-schema";
import jsonSchemaMeta from "@json-schema-tools/meta-schema";

const metaSchema = openrpcMeta.openrpcDocument;
const jsonSchema = jsonSchemaMeta.jsonSchema;
if (!metaSchema?.required || !jsonSchema?.$id) {
  console.error("the OpenRPC meta-schema did not load");
  process.exit(2);
}

// Both schemas name their own dialect (meta.json-schema.tools, a draft-07
// superset) as `$schema`; Ajv validates with them as draft-07, with formats
// it does not know ignored.
const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, validateFormats: false });
ajv.addSchema(jsonSchema);
// The OpenRPC meta-schema refers to it both with and without the final slash.
ajv.addSchema({ ...jsonSchema, $id: jsonSchema.$id.replace(/\/$/, "") });
const validate = ajv.compile(metaSchema);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE...");
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const doc = JSON.parse(readFileSync(file, "utf8"));
  if (validate(doc)) {
    console.log(`${file}: valid OpenRPC ${doc.openrpc}, ${doc.methods.length} methods`);
  } else {
    failed = true;
    for (const e of validate.errors) {
      console.error(`${file}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
