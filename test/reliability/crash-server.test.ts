/* Crashes on the real server (node-postgres and postgres.js workers): see crash-cases.ts. */
import { serverCrashes } from "./crash-cases.js";

serverCrashes();
