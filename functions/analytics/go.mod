module orderflow.dev/functions/analytics

go 1.26.8

require orderflow.dev/shared v0.1.0
