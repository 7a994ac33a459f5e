// The host side of MCP Apps for the test page, bundled by views.test.mjs with esbuild.
export * from "@modelcontextprotocol/ext-apps/app-bridge";
