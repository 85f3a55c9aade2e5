module orderflow.dev/functions/inventory

go 1.26.8

require orderflow.dev/shared v0.1.0
