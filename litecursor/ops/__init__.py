"""Running the gateway in production: ACME certificates, sd_notify, reload, graceful shutdown, workers."""
