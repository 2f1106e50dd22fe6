// Ponder requires an API file; the bench reads the tables with SQL and serves nothing
// here (Ponder's own /ready and /status stay).
import { Hono } from "hono";

export default new Hono();
