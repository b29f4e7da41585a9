export { deferred, printedDuring, rejectionOf, rowsOf, until } from "./assertions.js";
export {
  type AnyDb,
  type DatabaseFactory,
  type DriverName,
  databases,
  type TestDatabase,
} from "./databases.js";
export { describeEachDatabase } from "./each-database.js";
