module github.com/crumbs-go/session/serverstore/redisstore/express

go 1.26.0

require (
	github.com/crumbs-go/session v0.1.0
	github.com/crumbs-go/session/serverstore/redisstore v0.1.0
	github.com/redis/go-redis/v9 v9.23.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
