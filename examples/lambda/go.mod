module github.com/crumbs-go/session/examples/lambda

go 1.26.0

require (
	github.com/crumbs-go/session v0.1.0
	github.com/crumbs-go/session/examples/demo v0.1.0
)

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/klauspost/compress v1.20.4 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
