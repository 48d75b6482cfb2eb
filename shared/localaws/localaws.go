// Package localaws runs the local AWS emulation (moto_server) for `make run`
// and the tests, and builds AWS configurations that point at it.
package localaws

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region every local client uses.
const Region = "us-east-1"

// MotoVersion is the moto the launcher's patches are written against (its
// MOTO_VERSION; a test keeps the two equal). Another version runs as it is.
const MotoVersion = "5.2.1"

// InstallHint tells a user without moto how to get it.
const InstallHint = "moto_server was not found on PATH: install it with `pip install 'moto[server]==" + MotoVersion + "'` (Python 3), or point AWS_ENDPOINT_URL at a running emulator"

// stockCost is what running moto without the launcher costs the local stack.
const stockCost = "TransactWriteItems copies the whole table per item (slow transactions on large tables), " +
	"concurrent conditional writes are not serialised, FIFO deduplication works only against messages still in the queue, " +
	"and SQS sends slow down as queues grow"

// noticePrefix starts the launcher's lines meant for the developer: they are
// passed on even when MOTO_LOG is not set.
const noticePrefix = "sendwell:"

// Moto is a moto_server process this program started.
type Moto struct {
	// Endpoint is moto's base URL, http://127.0.0.1:<port>.
	Endpoint string
	// Patches names the launcher's fixes in effect ("transactions",
	// "fifo-dedup", "queue-counts"), as the launcher reported them at start.
	// It is empty when moto runs as it is.
	Patches []string

	cmd     *exec.Cmd
	exited  chan struct{}
	tail    []string // moto's last lines, for an error at start
	cleanup func()
}

// launcher is moto_server with TransactWriteItems and SQS fixed (see its docstring).
//
//go:embed moto_server.py
var launcher []byte

// StartMoto starts moto_server on 127.0.0.1:port and waits until it
// answers, for at most 30 seconds. With port 0 the server binds a free port
// itself and we read which from its start-up line, so no other process can
// take the port in between. It runs moto through our launcher when the
// machine's python3 has moto, and moto_server as it is otherwise. Warnings
// (a fallback to stock moto) go to os.Stderr, whatever MOTO_LOG says.
func StartMoto(port int) (*Moto, error) {
	return StartMotoWith(port, os.Stderr)
}

// StartMotoWith is StartMoto with the launcher's notices (its "sendwell:"
// lines: the patches applied, any fallback to stock moto) and StartMoto's own
// warnings written to notices (os.Stderr when nil). notices is written from
// another goroutine for as long as moto runs.
func StartMotoWith(port int, notices io.Writer) (*Moto, error) {
	if notices == nil {
		notices = os.Stderr
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New(InstallHint)
	}
	args := []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	why := "python3 was not found on PATH"
	if py, err := exec.LookPath("python3"); err == nil {
		script, err := writeLauncher()
		if err != nil {
			why = "the launcher could not be written: " + err.Error()
		} else {
			m, err := startMoto(exec.Command(py, append([]string{script}, args...)...), port, notices)
			if err == nil {
				m.cleanup = func() { os.Remove(script) }
				return m, nil
			}
			os.Remove(script)
			why = "the launcher did not start: " + err.Error()
		}
	}
	fmt.Fprintf(notices, "%s WARNING: %s; the local stack runs stock moto_server: %s\n", noticePrefix, why, stockCost)
	return startMoto(exec.Command(bin, args...), port, notices)
}

func writeLauncher() (string, error) {
	f, err := os.CreateTemp("", "sendwell-moto-*.py")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(launcher); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// started is what moto printed before it began serving.
type started struct {
	endpoint string
	patches  []string
}

func startMoto(cmd *exec.Cmd, port int, notices io.Writer) (*Moto, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // our own group, so Stop ends its children too
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("localaws: moto_server output: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localaws: start moto_server: %w", err)
	}
	m := &Moto{cmd: cmd, exited: make(chan struct{})}
	found := make(chan started, 1)
	go func() {
		// Read every line for as long as moto runs: a full pipe would block it.
		var log io.Writer = io.Discard
		if os.Getenv("MOTO_LOG") != "" {
			log = os.Stderr
		}
		var s started
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if len(m.tail) == 5 {
				m.tail = m.tail[1:]
			}
			m.tail = append(m.tail, line)
			if rest, ok := strings.CutPrefix(line, noticePrefix+" patches applied:"); ok {
				s.patches = []string{}
				for _, name := range strings.Split(rest, ",") {
					if name = strings.TrimSpace(name); name != "" && name != "none" {
						s.patches = append(s.patches, name)
					}
				}
			}
			if s.endpoint == "" {
				if s.endpoint = runningOn.FindString(line); s.endpoint != "" {
					found <- s
				}
			}
			if strings.HasPrefix(line, noticePrefix) {
				fmt.Fprintln(notices, line)
			} else {
				fmt.Fprintln(log, line)
			}
		}
		_ = cmd.Wait()
		close(m.exited)
	}()
	select {
	case s := <-found:
		m.Endpoint, m.Patches = s.endpoint, s.patches
	case <-m.exited:
		return nil, fmt.Errorf("localaws: moto_server exited at start (is port %d free? MOTO_LOG=1 shows all its output): %s",
			port, strings.Join(m.tail, " | "))
	case <-time.After(30 * time.Second):
		m.Stop()
		return nil, errors.New("localaws: moto_server did not start within 30 s")
	}
	if err := WaitReady(m.Endpoint, 30*time.Second); err != nil {
		m.Stop()
		return nil, err
	}
	return m, nil
}

var runningOn = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)

// WaitReady polls endpoint until it answers HTTP or the deadline passes.
func WaitReady(endpoint string, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: time.Second}
	for {
		res, err := client.Get(endpoint + "/moto-api/")
		if err == nil {
			res.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localaws: %s did not answer within %s: %w", endpoint, within, err)
		}
		time.Sleep(100 * time.Millisecond) // polling a process we started, not waiting for work
	}
}

// Stop ends the moto_server process group.
func (m *Moto) Stop() {
	if m == nil || m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	<-m.exited
	if m.cleanup != nil {
		m.cleanup()
	}
}

// Config returns an AWS configuration whose clients all talk to endpoint
// with dummy credentials.
func Config(ctx context.Context, endpoint string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(endpoint),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("localaws: config: %w", err)
	}
	return cfg, nil
}
