"""The built-in preset dictionary (zlib ``zdict``) of the store's packed columns (schema 5): what a
sweep's first documents are packed with, before the sweep has dictionaries of its own
(:mod:`v6scan.store_codec`), and what a migrated database's packs start with.

It is the JSON evidence of two sites of a lab sweep (``healthy.gov.test`` and ``dropped.gov.test``,
tests/data/sweep-1c815f1.db.gz), the last 32 KiB (zlib's window), made once and never changed: a
database stores every dictionary it was written with (table ``zlib_dictionaries``, keyed by the
dictionary's Adler-32, which each zlib stream names in its header), so dictionaries can be added
without touching old rows.
"""

import base64
import zlib

__all__ = ["ZDICT"]

ZDICT: bytes = zlib.decompress(base64.b64decode(
    "eNrtXVtzm0oSfj+/gtJTshsT5sIA3sqDN8e7m6p1shX74dSmUhSCkcUagQLIiU/K/33nAhKXQaCLbTmWqxJHwMz05eue7p5GGUHD"
    "AKfB2D49fYvg6I02ir0ZHZ1qo98TfzGjce7lYRJrrz7/472GbOy85s/MF+Mo9NlTEy/KKLuwyLxxxIfl6YLef2VXPPbjZmz0IuOz"
    "JTd8nMf++eXnyAuClGbiOjSQbugAIB0C/sQtTTO2HruF2aebMA74U0GVFv5Y6sXXtD7eeAvxGvqvzi+vTj6eX52g15IZ00LWYGbq"
    "nNy/0X4u14kzqF8nt3pOs3xUMK5gs5CyiU5PIaxzSgZyeiiKgs9HUfxanLnfw3zqlophF0BNYzUNVkfI+bcYKCldDuS3/kxi6kZJ"
    "crOYZ1K4Jf/fv3/Xp9SL8uldbfYVJ3ESeLknxEn9JA3EBF9rKNx5AvVAiYbKoBbcazL5ev/1/refgtfmnHGD66YsB5gNeN5mc/Rv"
    "R//2Ev1bkCbzOQ2Orunomo6u6eiaDi306nFPP4Jk5oXxWgd18B7um2qheZqMaSmQTOn41rq7iTcLozt+85bwzzkDXDZP0pxfWgRz"
    "JTN+EghCPn46//z502dptQWM2L9p5M0zGrgzPgYCHRGHP5HndDbP+TXAJ134PiOLlp/Zst9pKgRUUq9dfjrTquzo2jTJ8pmX5TTV"
    "6zeAhohhaA77Qwxsi18CUnJeGpQoFxrbt6Byf3dBYayb1vMTVH37qUgJPwicANbJry2lvWCJ6I6ND1NKcJjRwUfxTgxONrR/cUHt"
    "BVEWwy54doKqx1wP751M3bB+ZSHtCUrYQocjJX7tlrjLSArLz5XHsBBLGIkPX0SAxpn7uQrJVJW7b/ndXNw864sIVyqwJIn1CEq3"
    "+YaX5xH/4Fj3qyRpMAXsp5+IwqvYxukpUNNhtQjx+fquP+XRNZ+lRYZKWl3F0j1KzLKrlCoI7aJBwYBS3v087EvmcK+c7DC6rUhV"
    "zrSVEqGKdWKbS9aRYaj1sJ6ETXUQUC9QkWJCuw/5LUK6kL+J0LoyV4WwTO6laJomqXDUU6rxRbUgoZkWJ7lGf4TMgb76+Mfvny7O"
    "Pnx8PerG9YYy3YBIDLYgUgVZtbS/rT9JoWXpoEyv9VperRxEU16pqSbYnh5545M0SdbGZWDnAKOs0tQjDBbZI7Nn87yvbnPu+K5O"
    "tfaqTuhrqbcJU4sXCTCU4qnXVtkUcegvJTNefSp20IqsKs9q9dVAfWzjLvMD9yJsaZKwuZKqtHYq6aG0ZOrEwVtpaSmYhpbWqKld"
    "Bu+vtDXUVX1eU1Q/quO1Zv7RUJmyZjVQbZvVZPZfrMI62TCAbzKmcf+otTZ2lbJrQn/V4O+1LL4y7heR4C+lnj9lEWgHT98WNA0F"
    "gWg7An8bENz0utDOgQfoRm3rBbvRjRT1xK7URuDoSrdS3VO7U1OHaLNMX8Wc9v7j2cW5NiRL2aP3PW5ph7Ol4d23NPXxXs92phx0"
    "aFuZrWOTvOCtbLCSnnQbI7pp2sdtbGO1PbH7dPQND6+bbCl8kywyPV1GMJzE3wYUhgblBM/EkRLbeeE5wXNxpkdXup3i9ulOa3Xf"
    "pQKL0m2PV7XwNjndHvxjhbwuByn8XsFaR5wvG9E2OIG7+KPvHAIY2uwH0Nmqke4nsxWamgdCBDePIuJFFLmzHxVzCWfzKPTDvH5V"
    "fGBQmAuk09jnpAGD51FJJkTWpqCzw3FtmybfQ6BxUG2a6h7NyiGUIw+hiqbFW9I+HYLyhK7oTpRPFA17K7ioDFEFl7WHLE24qNsP"
    "FQcsxFQesIhzlUwbL3Jt6vGjFk3OoyUTLZ+GmSYWHoKlwpyVUOJjK2BScbgllkQ88qzQZPWiaXnWqMJTWw01Z77eXtca5NiLY+Hn"
    "RhAqXI52fnlx9R/tlmS+F5+wwIaPodMoEQwo17v88N9z5kYgNtgPv2D//cPVxYeLc8HdSlDXKaXM17dQS3SEB+3ncZK7YpIwvl46"
    "6rWSkmewUh5lm2yXeICgnfrTRBhqxtBRbA0pZRaw3CjSPJeEf2GaNuAbzdANTj/7BR3ZLaDoMMnCSE744DQZRNIi/gb2nikqLXE9"
    "TUaNpiYJpaJYeOHTNFnktET1vEyoFKtP2M8pKMJ/vpQICfJwRk/oD5/SoNjqy2UN3bSACJ7kvLA67C+jyh3UeQc37nC5RV6Wu/J2"
    "J3Ey8Cg4bUh71JFpbQSJIijDGNVCHumLJsIkxNifrZhjfJdL2IgG0TnbDoRDHCfBXcs0gaWTVqsWVyab3AXMfzRW4AYaS03cC67H"
    "keffTJOILjcsP/JmczG/mIzNcbi8QxM/Nu+bDPSTeBJeL3h4LJrXOBVf6vL6yn4JRBZGVuzeWbJIfaoEsNgl5X2XLSuV0Npgy/XW"
    "qKqiKdtQxL41YRs6dvoOCu5/OZ4hcAbxzDtfCstoNvqyFWR2Ns3zeXb69m0zC3mryjuY9yrmW6RR7+j11tiam021io7YgDfCSbMt"
    "W9ok02BM/cJHA6gDWzS4Rdmy4Ab5ccUkTJmb5QYrr5u6JfpeuK2W8jMIfzJPci+SlwhiOJLdWUmcM+W5ZUCd0x/522k+i/6mMXGm"
    "Gc3fLfLJiS2y3DCPqhmcloUMOMJn/ykyJCwyrnQR+15e28DYgEBGGrbkQXDIgJInfiIEe/Xvy1ugIz6bH86nMvBiF92z80sXmsT9"
    "5/sL9/JfZ8wjFW5jEsZFCWKIbtTSHsLPGq3KkkOzEfjRoVZp8dwHzmTz6gpnluOocWbCJs5QA2cY6paFjzjbGGcVld4vQ/oJzYtw"
    "6UtRPWMa7mqPZXcrrdj8Al493mgKZrcazxKXx1sujVcZ9HL7dX2Pp6uul69SWTaAxZbRIljNIeRWiKLI2Rid7Tu4cqe4FoSTiVSj"
    "jAs39e2qw/HNjK5zhof18YZt121PfFaYHm65eIRbpoesX9XFd6rnKd38Y6Fuv+7eIKAOOQeToWEFIi3MQXCE3NHjP6DHV9tes4S6"
    "md0pR6u1A3e2OZbCGahqckDHWOXmy1yvZnIil6+YHNIB3NriCr4P1OKUWllrbWv56dKn0tr663rNICSlXiYK7qOYhjljXOMJLktv"
    "tThJeQ1G81i+ytJXrUADy5az0X3NrIdbMXxUK97WhIWMZKHz50hM1VeyGhJiV7/KoWmJ9d0NM3dn1UyNV6JVtoZ0m9i9IZWpGw4S"
    "wcD6dZkBGLVk3dRFa25zVawjSJqrQrNh4YYOi/rs2lX5C/+kvigWVDRXhboDW34FwfqqEOgmkKcJRaHFTT1RJgI6t7kZDUIvLp41"
    "dAfZ9wKQbR3Xw5V9K5hgu6Fg2KVgw2mJ2m4rGA/SLxQBeFW/ShfOFdxKkiFuKxgP0i8GDf06RK1f3F7UaukXm2S4foHJo+BCNe6c"
    "pu7SAXIshXPuxGLxudwsUl4RZB5Eegs2rQH24hQ6I7HhuGFowLCJG0I6cGP3mSg2dBsOww2sbf22DqESNjIiqFto0y+wrR87/asi"
    "3XHsOm4M5ChxYyOnj1XeRYvxQNww4TlgK7+wFx1bttnQMYKgQ8dtN4xaOrZsMEjJwIF1JSPTUmsZtZclLS1DZntDtIytupaBCDNV"
    "WsZ9LolpGSE0WMuOvat3YB7GIW3vsA42UAEbZcg4GDKGTurJMPOR0FFG5qaIK+qReVNzOhIl9t5FoWxUWi0KAFEuiki74Oo03DqL"
    "FQatCWougfkvYqnXBHbfmoBZ+UCPAHQLw82gwkExTWZ07slOlfXV1+JBtx2dX4dZnooek56ONXpLIyhwF4XxTXlIX8bohoRupYtH"
    "RtVLcssp0E5TMFxn1QRACkR2MjXidZbo0VSmUF9kX9//mKJr+UPE8qGUqaukRjYyqKTaXeU4SnY3yaqzWYVUcbdUlS1zL0aqG/U+"
    "NGHKk3G5qdiGsuWhduRsseSn961XdoGl9UMmw3ZvE6+sMa8JkJoI2ZQhjPEeGcJmP0OyRSPxb1a6TeY0dgXlRQmBn/6zNZv3SOOe"
    "6FQL3JLnrlvuJE1mKxGpwg7+hUUVHIGi4sJwfedyCjqrq3MvDfM799qbHywi+eepx1s++JeDKt3wXkE7ZL0DwPWexdIL/WFiOVpH"
    "T0F1DRB4L2OyyNutaKbBS1ENQKCGgoxa5zebKtD4ZGoMdC6FHYcF5Fsutc4q4O5WgVnGCffl7dlkxH54b//4QFbgth+l6q61EiVt"
    "tXZPIdsyFXN83TDlyfJm6OXWLpYBWP0qI1E08i27kKth2BbpwSNS0RFKPxAFRYlyUOHak/5+QKfI9qfGrXO5SoFtNyLrG/OeKcxC"
    "5tGEtS0rA98WoX/jikLQ8lrGv8JsuWrZksovlmtXr8lDqYKj4oY8h+Jv2rSPwAbFaWLO3Y+ptpefT+Xh9hgT36GWTxCCBp74BqbU"
    "QBYyJxhQ3yBjENieTzxEITZpgHyTEGTACfEIRhB7su4zm9dikVb/yJ710hT/fWGPy/efVF9M2W1n3YXgA7O1LQg92tuW9vYAvTgv"
    "2ObKVgA8uAljAKThbs0aSkgra8MNrDWziM36NW+9KAxWcuVF6ojOKjKiaTi5c4uXpIuL27a/rFDHIvDFmIcd/On3H981sf3m0zv5"
    "nqFWvGcYZtlCzs2eXt3SxHcrvD9rPc/f5szU3zv8puOLssqmmDGdJGnxOggkJwCcQOcKGKfIPDWcvxrGqXyVkT/qTfLihUnxJDxB"
    "huLJwLvL3IhOcvFetkyWmWT2ZXwZjSZuFl7HtcalGyowcf7+hC91r/jPN4ZUO8q84zsd6xzbI2Vj6AbNmke8vVi8OZa9DeCKLq8S"
    "OJ2doGG8fKSrq6w6R7s9tDEBR044CblPLjP23cXXnhjvd2JVU9pxwzga8F4MmNjHHeMIuMcCHNSNIV9PedwxHnPHwBu+KHAg1ttM"
    "6vZove3/b+AJrNRxJmMbO9AJPN+gcGxBz/QxgXbg2/4E+Q6AtgEMYmJiOBN7bEMb2HhCfIthwrbMra2UpRHmPvKItZFIeY5Q/0qF"
    "Ykn53R4lzgoELY+gxCsJGCOGwOVpQ8M97OgN4HBv0GXLO2uv05b/DyWaSY4="
))
