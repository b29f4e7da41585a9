export { type EmbedQueryOptions, embedQuery } from "./embed-query.js";
export { type EmbedRowsOptions, embedRows } from "./embed-rows.js";
