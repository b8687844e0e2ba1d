// Command ferretdb runs the FerretDB the tests embed, in a process of its
// own: mongotest starts it under the race detector, which would otherwise
// instrument FerretDB too.
//
//	ferretdb -listen 127.0.0.1:27017 -postgresql-url postgres://…
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "the TCP address to listen on")
	pg := flag.String("postgresql-url", "postgres://postgres@127.0.0.1:5432/test", "the PostgreSQL that holds the data")
	flag.Parse()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        slog.New(slog.DiscardHandler),
		Handler:       "postgresql",
		PostgreSQLURL: *pg,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f.Run(ctx)
}
