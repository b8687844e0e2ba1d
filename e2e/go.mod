module github.com/crumbs-go/session/e2e

go 1.26.0

require (
	github.com/crumbs-go/session v0.0.0
	github.com/gorilla/sessions v1.4.0
	github.com/tetratelabs/wazero v1.12.0
)

require (
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/crumbs-go/session => ../
