// Cluster: one consumer group across processes on RabbitMQ. The program
// starts its own members as child processes (itself, with -member), then
// publishes orders for a few customers. Each order is handled by exactly
// one member; each customer's orders are handled in the order they were
// placed, whichever member has the customer's partition; the members share
// the partitions. Halfway through, one member is stopped: its partitions
// move to the others, and no order is lost.
//
//	go run ./examples/cluster -amqp amqp://guest:guest@127.0.0.1:5672/
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novaevents/nova/bus"
	"github.com/novaevents/nova/codec"
	"github.com/novaevents/nova/shared"
	"github.com/novaevents/nova/transport/amqp"
)

// Order is the payload; registered by name, so members get the Go type back.
type Order struct {
	Customer string `json:"customer"`
	Number   int    `json:"number"`
}

const (
	topic      = "orders"
	group      = "shipping"
	partitions = 6
)

func main() {
	url := flag.String("amqp", envOr("NOVA_AMQP_URL", amqp.DefaultURL), "RabbitMQ URL")
	members := flag.Int("members", 3, "member processes to start")
	orders := flag.Int("orders", 60, "orders to publish")
	member := flag.String("member", "", "run as the member of this name (used by the program itself)")
	prefix := flag.String("prefix", "", "exchange and queue prefix (used by the program itself)")
	flag.Parse()
	var err error
	if *member != "" {
		err = runMember(*url, *prefix, *member)
	} else {
		err = run(*url, *members, *orders)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// node is a client, a broker and a bus: what each process runs.
type node struct {
	client *amqp.Client
	broker *amqp.Broker
	bus    *bus.Bus
}

func open(url, prefix, name string) (*node, error) {
	reg := codec.NewRegistry()
	if err := codec.Register[Order](reg, "example.order"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := amqp.Dial(ctx, amqp.Config{URL: url, Name: prefix + "-" + name})
	if err != nil {
		return nil, err
	}
	broker, err := client.NewBroker(amqp.BrokerConfig{Prefix: prefix, Events: amqp.EventEncoding{Registry: reg},
		Heartbeat: 200 * time.Millisecond, PeerTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	b := bus.New(bus.Config{Broker: broker})
	err = b.CreateTopic(topic, bus.TopicConfig{
		Partitions:  partitions,
		OrderingKey: func(e shared.Event) string { return e.Metadata()["customer"] },
	})
	return &node{client: client, broker: broker, bus: b}, err
}

func (n *node) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = n.bus.Shutdown(ctx)
	_ = n.broker.Close(ctx)
	_ = n.client.Close(ctx)
}

// runMember joins the group, reports each order it handles and how many
// partitions it holds on stdout, and leaves when stdin closes.
func runMember(url, prefix, name string) error {
	n, err := open(url, prefix, name)
	if err != nil {
		return err
	}
	defer n.close()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Printf(format+"\n", args...)
		mu.Unlock()
	}
	_, err = n.bus.SubscribeGroup(topic, group, shared.NewBaseListener(name, func(e shared.Event) error {
		o := e.Data().(Order)
		say("handled %s %s %d", e.ID(), o.Customer, o.Number)
		time.Sleep(20 * time.Millisecond) // some work
		return nil
	}))
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	held := -1
	for {
		select {
		case <-tick.C:
			if h := len(n.broker.Held(topic, group)); h != held {
				held = h
				say("holding %d", h)
			}
		case <-stop:
			return nil
		}
	}
}

// child is a member process seen from the parent.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// run starts the members, publishes, and prints who handled what.
func run(url string, members, orders int) error {
	prefix := "nova-example-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	n, err := open(url, prefix, "publisher")
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = n.broker.DeleteGroup(ctx, topic, group)
		_ = n.client.Delete(ctx, nil, []string{n.broker.Exchange(topic)})
		n.close()
	}()
	// The group must exist before the first order, so that none is
	// published to a topic nobody reads: the first member's queues do it.
	type line struct{ member, text string }
	lines := make(chan line, 1024)
	var kids []*child
	for i := range members {
		name := "member-" + strconv.Itoa(i+1)
		cmd := exec.Command(os.Args[0], "-member", name, "-prefix", prefix, "-amqp", url)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		k := &child{name: name, cmd: cmd, stdin: in, done: make(chan struct{})}
		go func() {
			defer close(k.done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- line{name, sc.Text()}
			}
		}()
		kids = append(kids, k)
	}
	defer func() {
		for _, k := range kids {
			_ = k.stdin.Close()
			_ = k.cmd.Wait()
		}
	}()

	holding := map[string]int{}
	handled := map[string][]string{} // member → orders
	byCustomer := map[string][]string{}
	seen := map[string]bool{}
	timeout := time.After(2 * time.Minute)
	next := func() (line, error) {
		select {
		case l := <-lines:
			f := strings.Fields(l.text)
			switch {
			case len(f) == 2 && f[0] == "holding":
				holding[l.member], _ = strconv.Atoi(f[1])
			case len(f) == 4 && f[0] == "handled":
				handled[l.member] = append(handled[l.member], f[1])
				if !seen[f[1]] {
					seen[f[1]] = true
					byCustomer[f[2]] = append(byCustomer[f[2]], f[3]+"@"+l.member)
				}
			}
			return l, nil
		case <-timeout:
			return line{}, fmt.Errorf("timed out (holding %v, handled %d of %d)", holding, len(seen), orders)
		}
	}
	sum := func() int {
		s := 0
		for _, h := range holding {
			s += h
		}
		return s
	}
	fmt.Printf("starting %d members…\n", members)
	for len(holding) < members || sum() < partitions || minHeld(holding) == 0 {
		if _, err := next(); err != nil {
			return err
		}
	}
	fmt.Printf("partitions held: %v\n", holding)

	ctx := context.Background()
	publish := func(from, to int) error {
		for i := from; i < to; i++ {
			cust := "customer-" + strconv.Itoa(i%4+1)
			e := shared.NewBaseEventWithMetadata("order-"+strconv.Itoa(i+1), "order.placed",
				Order{Customer: cust, Number: i/4 + 1}, map[string]string{"customer": cust})
			if err := n.bus.Publish(ctx, topic, e); err != nil {
				return err
			}
		}
		return nil
	}
	if err := publish(0, orders/2); err != nil {
		return err
	}
	stopped := kids[len(kids)-1]
	fmt.Printf("stopping %s halfway…\n", stopped.name)
	_ = stopped.stdin.Close()
	if err := publish(orders/2, orders); err != nil {
		return err
	}
	for len(seen) < orders {
		if _, err := next(); err != nil {
			return err
		}
	}

	fmt.Printf("\nevery order handled (%d)\n\nby member:\n", orders)
	names := make([]string, 0, len(handled))
	for m := range handled {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		fmt.Printf("  %-9s %3d orders\n", m, len(handled[m]))
	}
	fmt.Println("\nby customer (order number@member, in handling order):")
	custs := make([]string, 0, len(byCustomer))
	for c := range byCustomer {
		custs = append(custs, c)
	}
	sort.Strings(custs)
	for _, c := range custs {
		fmt.Printf("  %s: %s\n", c, strings.Join(byCustomer[c], " "))
	}
	return nil
}

func minHeld(h map[string]int) int {
	m := -1
	for _, v := range h {
		if m < 0 || v < m {
			m = v
		}
	}
	return m
}
