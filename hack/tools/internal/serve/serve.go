// Package serve runs the hack/tools daemons' HTTP servers until SIGTERM or SIGINT, the
// signals hack/lib/common.sh's stop_daemon and a terminal send.
package serve

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// UntilSignalled runs serve (srv.Serve, srv.ListenAndServeTLS, ...) until a signal, then
// lets the requests in flight finish for up to grace and closes whatever is left (a watch
// never ends by itself). It returns serve's error unless that is the shutdown's.
func UntilSignalled(srv *http.Server, serve func() error, grace time.Duration) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}()
	if err := serve(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}
