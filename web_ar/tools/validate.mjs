// Khronos glTF-Validator on GLB files.
//
//   node tools/validate.mjs FILE.glb            -> one report (JSON object) on stdout
//   node tools/validate.mjs A.glb B.glb ...     -> a JSON list of reports, in argument order
//
// The report is the validator's own (validateBytes, maxIssues 0 = unlimited,
// writeTimestamp false). Exit code 0 even when a file has errors: the caller judges.
// A file that cannot be read or parsed at all gets
// {"uri": FILE, "fatal": "<message>"} in place of a report, and the exit code is still 0;
// only bad usage exits 2.
import fs from 'node:fs';
import path from 'node:path';
import validator from 'gltf-validator';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('validate: usage: node validate.mjs FILE.glb [FILE.glb ...]\n');
  process.exit(2);
}

async function validateFile(file) {
  let bytes;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (err) {
    return { uri: file, fatal: `validate: cannot read ${file}: ${err.message}` };
  }
  const format = path.extname(file).toLowerCase() === '.gltf' ? 'gltf' : 'glb';
  try {
    return await validator.validateBytes(bytes, {
      uri: file,
      format,
      maxIssues: 0,
      writeTimestamp: false,
      // Our GLBs are self-contained; anything external is reported, never fetched.
      externalResourceFunction: (uri) => Promise.reject(new Error(`external resource not allowed: ${uri}`)),
    });
  } catch (err) {
    return { uri: file, fatal: `validate: ${file}: ${err && err.message ? err.message : String(err)}` };
  }
}

const reports = [];
for (const file of files) reports.push(await validateFile(file));
process.stdout.write(JSON.stringify(files.length === 1 ? reports[0] : reports) + '\n');
