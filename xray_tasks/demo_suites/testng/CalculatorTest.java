// A small TestNG suite the demo compiles and runs when a JDK and Debian's TestNG jars are present.
import org.testng.Assert;
import org.testng.annotations.Test;

public class CalculatorTest {
    @Test
    public void addsTwoNumbers() {
        Assert.assertEquals(2 + 3, 5);
    }

    @Test
    public void multipliesTwoNumbers() {
        Assert.assertEquals(2 * 3, 6);
    }

    @Test(description = "fails on purpose, to show failures reach Xray")
    public void subtractsWithAnOffByOne() {
        Assert.assertEquals(5 - 3, 3);
    }
}
