module orderflow.dev/functions/notify

go 1.26.8

require orderflow.dev/shared v0.1.0
