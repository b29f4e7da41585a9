/* Crashes on file-backed PGlite: see crash-cases.ts. */
import { pgliteCrashes } from "./crash-cases.js";

pgliteCrashes();
