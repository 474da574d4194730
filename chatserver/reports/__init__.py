"""Reports, SLA clocks, the staffing forecast: figures computed from stored events."""
