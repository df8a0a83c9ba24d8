// Package gatt publishes BLE GATT services and LE advertisements through
// BlueZ's D-Bus API (org.bluez.GattManager1 and LEAdvertisingManager1, as in
// BlueZ 5.66's doc/gatt-api.txt and doc/advertising-api.txt), using
// github.com/godbus/dbus/v5 and no cgo.
//
// # Model
//
// An application is a value: a list of [Service]s, each with
// [Characteristic]s, each with [Descriptor]s. Every characteristic has
// [Flags] (all BlueZ flags exist as constants and at least one is required,
// as bluetoothd requires) and either a static Value or handlers:
//
//   - OnRead returns the whole value; the server slices it at the request's
//     offset, so long reads (values longer than one ATT PDU) work.
//   - OnWrite receives the value; writes at an offset (ATT prepared writes)
//     are assembled per device before the handler sees them.
//   - Handlers get a [Request] with the remote device, offset, MTU, link and
//     write type, and a per-device [Session] that ends when the device
//     disconnects. They return an [ATTError] (ErrInvalidValueLength, ...)
//     to make the central see a precise ATT error code.
//
// [Open] checks the application, exports it on the given D-Bus connection
// under one ObjectManager root, picks an adapter and calls
// RegisterApplication. The returned [Server] then:
//
//   - sends notifications and indications from any goroutine
//     ([Char.Notify], [Char.Indicate]), but only while a central is
//     subscribed (BlueZ calls StartNotify/StopNotify; see
//     [Characteristic.OnSubscribe]);
//   - advertises on demand ([Server.Advertise], [Server.StopAdvertising]);
//   - reports devices connecting and disconnecting (Config.OnConnect,
//     OnDisconnect), and disconnects them all on request
//     ([Server.DisconnectAll]);
//   - follows bluetoothd: when the org.bluez bus name disappears and comes
//     back (bluetoothd restarted), or the adapter is removed and comes back,
//     it registers the application and the advertisement again, and reports
//     failures through Config.OnError (successes through OnRegistered);
//     centrals that connected in between (LE links survive a killed
//     bluetoothd) are disconnected once the application is back, since
//     they saw a database without it or have no ATT server at all, so that
//     they connect again and find it;
//   - answers only bluetoothd: calls from other peers get NotAuthorized;
//   - on [Server.Close], unregisters both and removes its objects.
//
// [Adapter] controls the adapter (alias, power, discoverable, pairable, and
// BR/EDR through the kernel's management socket, for which BlueZ has no
// D-Bus API; that needs CAP_NET_ADMIN).
//
// # Concurrency
//
// godbus runs each incoming call on its own goroutine, so handlers run
// concurrently, also for the same characteristic; they must guard their own
// state. The server never holds a lock while it calls bluetoothd, and user
// callbacks (OnConnect, OnSubscribe, OnError, ...) run one at a time, in
// order, on a goroutine of their own.
//
// # BlueZ 5.66 specifics
//
//   - StartNotify has no options: BlueZ calls it each time a central enables
//     notifications and calls StopNotify only when the last one disables them
//     or disconnects, so the server knows whether someone is subscribed, not
//     who.
//   - Writes to a characteristic with FlagWriteWithoutResponse are all sent
//     without waiting for a reply: BlueZ has already answered the central, so
//     an OnWrite error is logged but not seen by the central.
//   - AcquireWrite and AcquireNotify are not offered. They hand the
//     application a socket per characteristic that carries bare values: no
//     device, no offset, no way to answer with an ATT error, and BlueZ 5.66
//     falls back to WriteValue/StartNotify anyway when they fail. This
//     package favours per-device requests and precise errors over the
//     throughput those sockets give.
//   - bluetoothd lays out the attributes of an application in the order in
//     which it learns of its objects, and links an included service only if
//     that service came first. A GetManagedObjects reply is a dictionary
//     without order (godbus encodes a Go map), so the server announces every
//     object with InterfacesAdded, in declaration order and included
//     services first, just before it replies: handles follow the order of
//     [Service.Characteristics] and [Service.Includes] work, on every
//     registration.
//   - bluetoothd 5.66 counts the handle (and the offset) in the length it
//     checks against the 512-byte limit of an attribute value
//     (bluez/bluez#570, fixed in 5.70): it refuses with Invalid Attribute
//     Value Length, before the application sees it, a Write Request of more
//     than 510 bytes and a long write (Prepare/Execute Write) of more than
//     508. A long write reaches OnWrite as one WriteValue at offset 0.
//   - MinInterval, MaxInterval and TxPower in an [Advertisement] are only
//     honoured when bluetoothd runs with --experimental.
//   - A registration (of the application or an advertisement) that has been
//     sent is waited for until bluetoothd answers or the call timeout
//     passes, even when the caller's context ends: bluetoothd 5.66 aborted
//     in the test bed when the advertisement was unregistered, or its client
//     left the bus, while the registration was pending. Advertising calls
//     and Close may therefore take up to [Config.CallTimeout] when
//     bluetoothd hangs.
//
// # Testing
//
// Package gatt/gatttest is a fake bluetoothd on a private bus, in the manner
// of net/http/httptest: it checks a registered application as BlueZ 5.66
// does and drives it as bluetoothd would (reads, writes, notifications,
// centrals connecting), and on a second adapter lets a BlueZ central client
// talk to it as if from another machine.
//
// Use a private connection from [ConnectSystemBus], not the shared
// dbus.SystemBus(): BlueZ ties the registration to the connection's unique
// name, and the server adds signal matches to it. ConnectSystemBus also
// numbers incoming calls as they arrive, so that a central's write commands
// (ATT Write Without Response) reach OnWrite in the order it sent them;
// godbus alone runs each call on a goroutine of its own, in any order.
package gatt
