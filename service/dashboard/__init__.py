"""The operator dashboard: today's plan, demand-response events, comparisons and the network, in the browser."""
