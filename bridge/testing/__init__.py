"""Test helpers shipped with the package, so adapter authors can prove their plugin behaves.

```python
from bridge.testing import BrokerContract

class TestMyBroker(BrokerContract):
    async def open_broker(self, workdir):
        broker = MyBroker(MyOptions(api_key="..."), BrokerContext(name="mine"))
        await broker.connect()
        return broker
```
"""

from bridge.testing.contract import BrokerContract, Fault

__all__ = ["BrokerContract", "Fault"]
