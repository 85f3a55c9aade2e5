module orderflow.dev/functions/payment

go 1.26.8

require orderflow.dev/shared v0.1.0
