// Timestamp servers written the obvious way in Go, for the benchmark to measure ours against:
// the net package, a goroutine per connection, the stamp formatted again for every reply.
// Nothing tuned: this is what a Go programmer would write first. Standard library only, no
// go.mod, so it builds as one file:
//
//	go build -o /tmp/go_server bench/peers/go_server.go
//	/tmp/go_server tcp|ss|udp [PORT [HOST]]
//	/tmp/go_server tcp|ss /PATH                  (on a Unix socket)
//
// Prints "listening on PORT" (or the path) once bound (PORT 0 picks a free one).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const bufsiz = 1024

// stamped puts "[" + the time as Python's time.ctime() writes it + "] " before data.
// "_2" pads the day of the month with a space, as ctime does: "Thu Jun  4 19:56:18 2020".
func stamped(data []byte) []byte {
	stamp := "[" + time.Now().Format("Mon Jan _2 15:04:05 2006") + "] "
	return append([]byte(stamp), data...)
}

// replies answers each read of up to bufsiz bytes until the client closes.
func replies(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, bufsiz)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(stamped(buf[:n])); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// line answers one line per connection, as the book's SocketServer: read up to the newline
// (or bufsiz bytes, or the end), reply, close.
func line(conn net.Conn) {
	defer conn.Close()
	data, _ := bufio.NewReaderSize(conn, bufsiz).ReadSlice('\n')
	if len(data) > 0 {
		conn.Write(stamped(data))
	}
}

func serveStream(network, address string, handle func(net.Conn)) {
	ln, err := net.Listen(network, address)
	if err != nil {
		fail(err)
	}
	announce(ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		go handle(conn)
	}
}

func serveDatagrams(address string) {
	pc, err := net.ListenPacket("udp", address)
	if err != nil {
		fail(err)
	}
	announce(pc.LocalAddr())
	buf := make([]byte, bufsiz)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			continue
		}
		pc.WriteTo(stamped(buf[:n]), addr)
	}
}

// announce prints the port, or a Unix socket's path. Go's stdout is unbuffered: no flush.
func announce(addr net.Addr) {
	switch a := addr.(type) {
	case *net.TCPAddr:
		fmt.Println("listening on", a.Port)
	case *net.UDPAddr:
		fmt.Println("listening on", a.Port)
	default:
		fmt.Println("listening on", addr.String())
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	args := []string{"tcp", "0", "127.0.0.1"} // the defaults, overwritten by those given
	copy(args, os.Args[1:])
	mode, port, host := args[0], args[1], args[2]

	// Stopped by the benchmark with SIGTERM (or by hand with Ctrl-C): that is a normal end.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		os.Exit(0)
	}()

	network, address := "tcp", net.JoinHostPort(host, port)
	if strings.HasPrefix(port, "/") {
		os.Remove(port) // a stale file from an earlier run
		network, address = "unix", port
	}
	switch {
	case mode == "tcp":
		serveStream(network, address, replies)
	case mode == "ss":
		serveStream(network, address, line)
	case mode == "udp" && network == "tcp":
		serveDatagrams(address)
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %s: tcp, ss or udp (udp not on a Unix socket)\n", mode)
		os.Exit(2)
	}
}
