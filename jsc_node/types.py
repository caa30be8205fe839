from typing import NewType

Address = NewType("Address", bytes)  # 20 bytes
Hash32 = NewType("Hash32", bytes)  # 32 bytes
BlockNumber = NewType("BlockNumber", int)
