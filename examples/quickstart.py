"""Train the README's first network, the one `chainrule train` trains: the course's 2-4-1
network (tanh then sigmoid) on the flower data set, full-batch gradient descent, as a plain
training loop.

Run: python examples/quickstart.py
"""


import chainrule as cr
from chainrule import nn

X, y = cr.data.make_flower()  # 400 points (rows), two petal colours: labels 0 and 1

cr.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 4, init="normal"), nn.Tanh(),  # weights N(0, 0.01)
                      nn.Linear(4, 1, init="normal"), nn.Sigmoid())
loss_fn = nn.BCELoss()
opt = cr.optim.SGD(model.parameters(), lr=1.2)
for step in range(10_000):
    opt.zero_grad()
    loss = loss_fn(model(cr.tensor(X)), cr.tensor(y))
    loss.backward()
    opt.step()
    if step % 2000 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")

with cr.no_grad():
    accuracy = ((model(cr.tensor(X)).data > 0.5) == y).mean()
print(f"final loss {loss.item():.4f}  training accuracy {accuracy:.1%}")
