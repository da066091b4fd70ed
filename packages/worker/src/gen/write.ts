/** `npm run gen:types -w packages/worker`: rewrites src/protocol-types.gen.ts from the protocol's JSON Schema. */
import { writeFileSync } from 'node:fs'
import { generate, generatedPath } from './schema-to-ts.js'

writeFileSync(generatedPath, generate())
console.log(`wrote ${generatedPath}`)
