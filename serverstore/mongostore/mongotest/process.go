package mongotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// binary builds the command that runs the embedded FerretDB in a process
// of its own (./cmd/ferretdb), without the race detector, into dir.
func binary(dir string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command, to build FerretDB's: %w", err)
	}
	bin := filepath.Join(dir, "ferretdb")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/crumbs-go/session/serverstore/mongostore/mongotest/cmd/ferretdb")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build FerretDB's command: %v: %s", err, out)
	}
	return bin, nil
}

// startProcess starts FerretDB in a process of its own, on a free port,
// and returns its URI and a function that stops it.
func startProcess() (string, func(), error) {
	dir, err := os.MkdirTemp("", "crumbs-ferretdb-")
	if err != nil {
		return "", nil, err
	}
	bin, err := binary(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "-listen", addr, "-postgresql-url", PostgreSQL())
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	err = cmd.Start()
	os.RemoveAll(dir) // the running command needs its file no more: nothing left if this process is killed
	if err != nil {
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	uri := "mongodb://" + addr + "/"
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return "", nil, fmt.Errorf("FerretDB exited: %v", err)
		default:
		}
		cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = cl.Ping(ctx, nil)
			cancel()
			cl.Disconnect(context.Background())
			if err == nil {
				return uri, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("FerretDB did not answer within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
