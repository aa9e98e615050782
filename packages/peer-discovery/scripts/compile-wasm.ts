/** Regenerates src/internal/xxh64Module.ts from src/internal/xxh64.wat. */
import { writeFile } from "node:fs/promises"
import { compileXxh64, generatedPath, renderModule } from "./wasmSource.js"

const bytes = await compileXxh64()
await writeFile(generatedPath, renderModule(bytes))
console.log(`wrote ${generatedPath.pathname} (${bytes.length} bytes of WebAssembly)`)
