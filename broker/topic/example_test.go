package topic_test

import (
	"fmt"
	"slices"

	"github.com/nautilus-mq/nautilus/broker/topic"
)

func ExampleTrie() {
	var subs topic.Trie[string, byte] // client id -> QoS
	_, _ = subs.Subscribe("sensors/+/temp", "dashboard", 1)
	_, _ = subs.Subscribe("sensors/#", "archiver", 2)
	_, _ = subs.Subscribe("#", "debugger", 0)

	var dst []topic.Entry[string, byte] // reuse across publishes
	for _, name := range []string{"sensors/7/temp", "$SYS/uptime"} {
		dst = subs.Match(name, dst[:0])
		var ids []string
		for _, e := range dst {
			ids = append(ids, e.Key)
		}
		slices.Sort(ids)
		fmt.Println(name, ids)
	}
	// Output:
	// sensors/7/temp [archiver dashboard debugger]
	// $SYS/uptime []
}

func ExampleRetainedIndex() {
	var retained topic.RetainedIndex[string]
	_ = retained.Set("sensors/1/temp", "21.5")
	_ = retained.Set("sensors/2/temp", "19.0")
	_ = retained.Set("sensors/2/hum", "40")

	var got []string
	retained.Match("sensors/+/temp", func(name, payload string) bool {
		got = append(got, name+"="+payload)
		return true
	})
	slices.Sort(got)
	fmt.Println(got)
	// Output: [sensors/1/temp=21.5 sensors/2/temp=19.0]
}

func ExampleParseShared() {
	group, filter, shared, err := topic.ParseShared("$share/workers/jobs/#")
	fmt.Println(group, filter, shared, err, topic.ValidateFilter(filter, 8))
	// Output: workers jobs/# true <nil> <nil>
}
